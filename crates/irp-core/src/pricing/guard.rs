//! The price guard: a purchase price that moves more than a refurbisher's
//! `max_price_change_ratio` is held for an operator instead of being priced at once.
//!
//! [`judge`] is the decision, over plain data. A feed run applies it to every changed offer at
//! once, inside the statement that merges the run (the store renders the same decision as SQL,
//! `irp_store::feed_write::price_guard`, and a store test checks both agree on every case on
//! both databases); [`decidable`] is the rule for an operator's accept or reject.

use crate::orders::status::status_enum;

status_enum! {
    /// A held purchase price change.
    Hold, "price hold" {
        /// Waiting for an operator.
        Pending => "pending",
        /// An operator rejected it: the old price stays until the feed sends another.
        Rejected => "rejected",
    }
}

/// An offer's purchase price as the guard sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardState<T> {
    /// The feed's purchase price, minor units.
    pub feed_minor: i64,
    /// While a change is held: the price still in use.
    pub applied_minor: Option<i64>,
    /// The hold, when one is open.
    pub hold: Option<Hold>,
    /// When the hold was opened.
    pub held_at: Option<T>,
}

/// What the guard makes of a new feed price `new_minor` for an offer in `old` state, with the
/// refurbisher's ratio in millionths (`ratio_ppm`), at time `at`: the new state.
///
/// The price in use is the last applied one (`applied_minor` while a change is held, else the
/// stored feed price). A new price that moves more than the ratio against it is held
/// (`pending`, the price in use kept); a price already rejected stays rejected while the feed
/// repeats it; a hold the feed repeats keeps its time; a price back within the ratio lifts the
/// hold. A price in use of 0 holds nothing.
#[must_use]
pub fn judge<T: Copy>(old: GuardState<T>, new_minor: i64, ratio_ppm: i64, at: T) -> GuardState<T> {
    let in_use = old.applied_minor.unwrap_or(old.feed_minor);
    let out_of_range = in_use > 0
        && i128::from(new_minor - in_use).abs() * 1_000_000
            > i128::from(ratio_ppm) * i128::from(in_use);
    if !out_of_range {
        return GuardState {
            feed_minor: new_minor,
            applied_minor: None,
            hold: None,
            held_at: None,
        };
    }
    let repeated = old.feed_minor == new_minor;
    GuardState {
        feed_minor: new_minor,
        applied_minor: Some(in_use),
        hold: Some(if repeated && old.hold == Some(Hold::Rejected) {
            Hold::Rejected
        } else {
            Hold::Pending
        }),
        held_at: if repeated && old.hold.is_some() {
            old.held_at
        } else {
            Some(at)
        },
    }
}

/// Whether an operator may accept (`accept`) or reject a hold in state `hold`: a pending change
/// may be accepted or rejected, a rejected one accepted after all.
#[must_use]
pub fn decidable(hold: Option<Hold>, accept: bool) -> bool {
    match hold {
        Some(Hold::Pending) => true,
        Some(Hold::Rejected) => accept,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn state(feed: i64, applied: Option<i64>, hold: Option<Hold>) -> GuardState<i64> {
        GuardState {
            feed_minor: feed,
            applied_minor: applied,
            hold,
            held_at: hold.map(|_| 1),
        }
    }

    #[test]
    fn a_jump_beyond_the_ratio_is_held_and_a_small_move_applies() {
        // 50 %: 100.00 → 160.00 is held, → 140.00 applies.
        let held = judge(state(10_000, None, None), 16_000, 500_000, 2);
        assert_eq!(held.applied_minor, Some(10_000));
        assert_eq!((held.hold, held.held_at), (Some(Hold::Pending), Some(2)));
        let applied = judge(state(10_000, None, None), 14_000, 500_000, 2);
        assert_eq!(applied, state(14_000, None, None));
    }

    #[test]
    fn a_rejected_price_stays_rejected_while_repeated_and_keeps_its_time() {
        let rejected = state(16_000, Some(10_000), Some(Hold::Rejected));
        let again = judge(rejected, 16_000, 500_000, 9);
        assert_eq!((again.hold, again.held_at), (Some(Hold::Rejected), Some(1)));
        // Another price beyond the ratio is a new pending hold, timed now.
        let other = judge(rejected, 17_000, 500_000, 9);
        assert_eq!((other.hold, other.held_at), (Some(Hold::Pending), Some(9)));
        assert_eq!(other.applied_minor, Some(10_000));
        // Back within the ratio of the price in use: the hold is lifted.
        assert_eq!(
            judge(rejected, 10_500, 500_000, 9),
            state(10_500, None, None)
        );
    }

    #[test]
    fn nothing_is_held_from_zero() {
        assert_eq!(judge(state(0, None, None), 5_000, 0, 1).hold, None);
    }

    #[test]
    fn operators_decide_pending_and_may_accept_rejected() {
        assert!(decidable(Some(Hold::Pending), true) && decidable(Some(Hold::Pending), false));
        assert!(decidable(Some(Hold::Rejected), true) && !decidable(Some(Hold::Rejected), false));
        assert!(!decidable(None, true));
    }

    proptest! {
        /// The price in use never moves beyond the ratio without a hold, and a held state always
        /// keeps the price that was in use.
        #[test]
        fn never_moves_beyond_the_ratio_unheld(
            feed in 0i64..100_000, new in 0i64..100_000, ppm in 0i64..2_000_000,
            applied in proptest::option::of(1i64..100_000), rejected in any::<bool>(),
        ) {
            let old = state(feed, applied, applied.map(|_| if rejected { Hold::Rejected } else { Hold::Pending }));
            let in_use = applied.unwrap_or(feed);
            let next = judge(old, new, ppm, 5);
            prop_assert_eq!(next.feed_minor, new);
            match next.hold {
                None => prop_assert!(in_use == 0 || (new - in_use).abs() as i128 * 1_000_000 <= ppm as i128 * in_use as i128),
                Some(_) => prop_assert_eq!(next.applied_minor, Some(in_use)),
            }
        }
    }
}
