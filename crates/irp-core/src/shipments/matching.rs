//! Which supplier order a shipment belongs to — decided over the candidates the store found,
//! without a database.
//!
//! A refurbisher names the order it shipped by its own order reference (what its order API
//! answered) or by IRP's channel order number (some quote ours). The store reads every
//! supplier order of that refurbisher that carries the name either way; [`match_shipment`]
//! picks one, or says why none can be picked, in words an operator can act on.

use crate::orders::status::SupplierOrderStatus;

/// A supplier order the shipment's order id may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchCandidate {
    /// The supplier order's id.
    pub supplier_order_id: i64,
    /// Its status now.
    pub status: SupplierOrderStatus,
    /// `true`: the name is the refurbisher's order reference; `false`: IRP's order number.
    pub by_reference: bool,
}

/// What [`match_shipment`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// The shipment belongs to this supplier order, which may be marked shipped.
    Found(i64),
    /// No supplier order can be picked; why (kept with the shipment for review).
    Unmatched(String),
}

/// Pick the supplier order `external_order_id` names among `candidates`: the refurbisher's own
/// reference wins over IRP's order number; exactly one candidate must remain, in a status a
/// shipment may move to `shipped` ([`SupplierOrderStatus::shippable`]).
#[must_use]
pub fn match_shipment(external_order_id: &str, candidates: &[MatchCandidate]) -> Match {
    let by_reference = candidates.iter().any(|c| c.by_reference);
    let mut best: Vec<&MatchCandidate> = candidates
        .iter()
        .filter(|c| c.by_reference == by_reference)
        .collect();
    best.sort_by_key(|c| c.supplier_order_id);
    best.dedup_by_key(|c| c.supplier_order_id);
    match best.as_slice() {
        [] => Match::Unmatched(format!(
            "no supplier order of this refurbisher has the reference or order number {external_order_id:?}"
        )),
        [c] if c.status.shippable() => Match::Found(c.supplier_order_id),
        [c] if c.status == SupplierOrderStatus::Cancelled => Match::Unmatched(format!(
            "supplier order {} was cancelled; dismiss the shipment, or match it to another supplier order",
            c.supplier_order_id
        )),
        [c] => Match::Unmatched(format!(
            "supplier order {} is still {}; the shipment is matched once the order is placed",
            c.supplier_order_id, c.status
        )),
        several => Match::Unmatched(format!(
            "{external_order_id:?} names {} supplier orders ({}); match it by hand",
            several.len(),
            several
                .iter()
                .map(|c| c.supplier_order_id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SupplierOrderStatus as S;
    use proptest::prelude::*;

    fn c(id: i64, status: S, by_reference: bool) -> MatchCandidate {
        MatchCandidate {
            supplier_order_id: id,
            status,
            by_reference,
        }
    }

    #[test]
    fn their_reference_wins_over_our_order_number() {
        let found = match_shipment(
            "FX-1",
            &[c(3, S::Submitted, false), c(7, S::Submitted, true)],
        );
        assert_eq!(found, Match::Found(7));
        assert_eq!(
            match_shipment("RD-1", &[c(3, S::Internal, false)]),
            Match::Found(3)
        );
    }

    #[test]
    fn each_unmatched_case_says_what_to_do() {
        assert_eq!(
            match_shipment("X", &[]),
            Match::Unmatched(
                "no supplier order of this refurbisher has the reference or order number \"X\""
                    .into()
            )
        );
        assert_eq!(
            match_shipment("X", &[c(4, S::Cancelled, true)]),
            Match::Unmatched(
                "supplier order 4 was cancelled; dismiss the shipment, or match it to another supplier order".into()
            )
        );
        assert_eq!(
            match_shipment("X", &[c(4, S::Pending, true)]),
            Match::Unmatched(
                "supplier order 4 is still pending; the shipment is matched once the order is placed"
                    .into()
            )
        );
        assert_eq!(
            match_shipment("X", &[c(9, S::Submitted, false), c(4, S::Submitted, false)]),
            Match::Unmatched("\"X\" names 2 supplier orders (4, 9); match it by hand".into())
        );
    }

    #[test]
    fn a_shipped_order_takes_a_second_parcel() {
        assert_eq!(
            match_shipment("X", &[c(4, S::Shipped, true)]),
            Match::Found(4)
        );
    }

    proptest! {
        /// A match is always one of the candidates, shippable, and of the winning kind.
        #[test]
        fn found_is_a_shippable_candidate(
            raw in proptest::collection::vec((0usize..8, any::<bool>()), 0..6)
        ) {
            let candidates: Vec<MatchCandidate> = raw
                .iter()
                .zip(1i64..)
                .map(|((s, r), id)| c(id, S::ALL[*s], *r))
                .collect();
            if let Match::Found(id) = match_shipment("X", &candidates) {
                let any_ref = candidates.iter().any(|x| x.by_reference);
                let hits: Vec<_> = candidates
                    .iter()
                    .filter(|x| x.supplier_order_id == id && x.by_reference == any_ref)
                    .collect();
                prop_assert!(!hits.is_empty());
                prop_assert!(hits.iter().all(|x| x.status.shippable()));
            }
        }
    }
}
