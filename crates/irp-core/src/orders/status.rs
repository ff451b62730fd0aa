//! The statuses of an order, its lines and its supplier orders, as stored and as shown.
//!
//! Each is stored as its snake-case name ([`as_str`](SupplierOrderStatus::as_str)), serialised
//! the same way (whatever the variant is called), and parsed back with [`FromStr`](std::str::FromStr); an unknown name is an error that names it.

/// A name that is not one of a status enum's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} status {value:?}; expected one of: {expected}")]
pub struct UnknownStatus {
    /// Which status (`order`, `line`, `supplier order`).
    pub kind: &'static str,
    /// The name met.
    pub value: String,
    /// The names known.
    pub expected: String,
}

/// What every status enum offers generically: its names, for schemas and lists.
pub trait Named: Copy + 'static {
    /// Every value, in the order of its life.
    fn all() -> &'static [Self];
    /// The stored and shown name.
    fn name(self) -> &'static str;
}

macro_rules! status_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every status, in the order of its life.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and shown name.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl $crate::orders::status::Named for $name {
            fn all() -> &'static [Self] {
                Self::ALL
            }

            fn name(self) -> &'static str {
                self.as_str()
            }
        }

        // Serialised as its stored name, so JSON, the database and the pages agree.
        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(deserializer)?;
                name.parse().map_err(::serde::de::Error::custom)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::orders::status::UnknownStatus;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::orders::status::UnknownStatus {
                        kind: $kind,
                        value: s.to_owned(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::orders::status::UnknownStatus;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.as_str()
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                self == other.as_str()
            }
        }
    };
}

pub(crate) use status_enum;

status_enum! {
    /// An order's status at intake.
    OrderStatus, "order" {
        /// Every line went to an offer.
        Routed => "routed",
        /// At least one line could not be routed.
        NeedsAttention => "needs_attention",
    }
}

status_enum! {
    /// A line's status.
    LineStatus, "line" {
        /// It went to an offer, whose units it reserves.
        Routed => "routed",
        /// It could not be routed (its reason says why).
        NeedsAttention => "needs_attention",
    }
}

status_enum! {
    /// A supplier order's status: the part of an order one refurbisher fulfils.
    SupplierOrderStatus, "supplier order" {
        /// Waiting to be placed at the refurbisher's API.
        Pending => "pending",
        /// Fulfilled internally (no order connector); not placed at an API.
        Internal => "internal",
        /// An attempt is under way (leased by one instance).
        Submitting => "submitting",
        /// The refurbisher accepted it.
        Submitted => "submitted",
        /// The attempts ran out.
        Failed => "failed",
        /// An answer nobody can retry blindly: an operator decides.
        NeedsAttention => "needs_attention",
        /// The refurbisher shipped it.
        Shipped => "shipped",
        /// Cancelled by an operator.
        Cancelled => "cancelled",
    }
}

status_enum! {
    /// How one attempt to place a supplier order ended (as recorded on the attempt).
    AttemptResult, "attempt" {
        /// The call is under way (or its process died during it).
        Sending => "sending",
        /// The refurbisher accepted the order.
        Submitted => "submitted",
        /// Nothing (or a 5xx/429) came back: to be sent again after a backoff.
        Retry => "retry",
        /// Refused, an assert failed, or the attempts ran out.
        Failed => "failed",
        /// Sent without an answer: an operator checks with the refurbisher.
        NeedsAttention => "needs_attention",
        /// The process died during the call; its lease expired.
        Unknown => "unknown",
    }
}

impl AttemptResult {
    /// The status the supplier order moves to when an attempt ends this way.
    #[must_use]
    pub const fn supplier_order_status(self) -> SupplierOrderStatus {
        match self {
            Self::Submitted => SupplierOrderStatus::Submitted,
            Self::Retry => SupplierOrderStatus::Pending,
            Self::Failed => SupplierOrderStatus::Failed,
            Self::Sending | Self::NeedsAttention | Self::Unknown => {
                SupplierOrderStatus::NeedsAttention
            }
        }
    }

    /// It did not place the order and nobody retries it by itself.
    #[must_use]
    pub const fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::NeedsAttention)
    }
}

impl SupplierOrderStatus {
    /// An operator may retry it.
    #[must_use]
    pub const fn retryable(self) -> bool {
        matches!(self, Self::Failed | Self::NeedsAttention)
    }

    /// An operator may cancel it.
    #[must_use]
    pub const fn cancellable(self) -> bool {
        matches!(
            self,
            Self::Pending | Self::Failed | Self::NeedsAttention | Self::Internal
        )
    }

    /// A shipment may be matched to it.
    #[must_use]
    pub const fn shippable(self) -> bool {
        matches!(
            self,
            Self::Submitted | Self::NeedsAttention | Self::Failed | Self::Internal | Self::Shipped
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_serialise_alike() {
        for s in SupplierOrderStatus::ALL {
            assert_eq!(s.as_str().parse::<SupplierOrderStatus>(), Ok(*s));
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::Value::String(s.as_str().into()))
            );
        }
        for s in OrderStatus::ALL {
            assert_eq!(s.as_str().parse::<OrderStatus>(), Ok(*s));
        }
        for s in LineStatus::ALL {
            assert_eq!(s.as_str().parse::<LineStatus>(), Ok(*s));
        }
    }

    /// Every status enum, whatever its variants are called, serialises as its stored name and
    /// reads back from it (the monitor's metrics are the enum whose variants differ most).
    fn serde_round_trip<
        T: Named + std::fmt::Debug + PartialEq + serde::Serialize + serde::de::DeserializeOwned,
    >() {
        for v in T::all() {
            let json = serde_json::to_value(v).ok();
            assert_eq!(json, Some(serde_json::Value::String(v.name().into())));
            let back: Option<T> = json.and_then(|j| serde_json::from_value(j).ok());
            assert_eq!(back.as_ref(), Some(v));
        }
        assert!(serde_json::from_str::<T>("\"no_such_name\"").is_err());
    }

    #[test]
    fn every_status_enum_serialises_as_its_stored_name() {
        serde_round_trip::<OrderStatus>();
        serde_round_trip::<LineStatus>();
        serde_round_trip::<SupplierOrderStatus>();
        serde_round_trip::<AttemptResult>();
        serde_round_trip::<crate::feed::FeedRunStatus>();
        serde_round_trip::<crate::erp::ErpStatus>();
        serde_round_trip::<crate::shipments::ShipmentStatus>();
        serde_round_trip::<crate::pricing::guard::Hold>();
        serde_round_trip::<crate::monitoring::Metric>();
    }

    #[test]
    fn an_unknown_name_is_named() {
        let e = "shiped".parse::<SupplierOrderStatus>().err();
        assert_eq!(
            e.map(|e| e.to_string()),
            Some("unknown supplier order status \"shiped\"; expected one of: pending, internal, submitting, submitted, failed, needs_attention, shipped, cancelled".into())
        );
    }

    #[test]
    fn operator_moves() {
        use SupplierOrderStatus as S;
        let retry: Vec<_> = S::ALL.iter().filter(|s| s.retryable()).collect();
        assert_eq!(retry, [&S::Failed, &S::NeedsAttention]);
        assert!(!S::Submitted.cancellable() && S::Internal.cancellable());
        assert!(!S::Cancelled.shippable() && !S::Pending.shippable());
    }
}
