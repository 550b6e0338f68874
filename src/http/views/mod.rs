//! Response shapes of the API, each built from the aggregate (command answers) and from its
//! read-model row (queries), so both answer the same shape.

pub mod payout;
pub mod refund;
