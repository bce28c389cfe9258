//! What the gateway knows of its callers besides their config: the keys tenants may call with
//! (configured and created at run time), read by the request path's authenticate layer, and the
//! admins' dashboard sessions.

pub mod keys;
pub mod sessions;

pub use keys::KeyRing;
