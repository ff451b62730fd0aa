//! The order mapping language of seed 002 (FlexIT): how a supplier order becomes the JSON body
//! a refurbisher's order API expects, and how its answer is checked.
//!
//! - [`expr`]: one value expression (`!(int)218535`, `orderShippingAddress.country->getIsoAlpha2`);
//! - [`context`]: the supplier-order context that paths read, with the type of every field;
//! - [`asserts`]: response rules such as `in:201` and `present|filled`.
//! - [`render`]: the request body built from a context.

pub mod asserts;
pub mod context;
pub mod expr;
pub mod render;
