//! The request path after decoding: authenticate → admit → route → execute → account.

pub mod authenticate;
pub mod execute;
