//! What the gateway knows of its tenants besides their config: the keys they may call with
//! (configured and created at run time), read by the request path's authenticate layer.

pub mod keys;

pub use keys::KeyRing;
