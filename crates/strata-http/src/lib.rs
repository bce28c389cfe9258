//! The HTTP edge shared by the gateway and the emulator.
//!
//! - [`serve`]: accept loops over plain and TLS [`Listener`]s (HTTP/1.1 and HTTP/2: by ALPN on
//!   TLS, by prior knowledge on a plain port), under one connection cap.
//! - Deadlines: a request head ([`ServeOptions::header_timeout`]), a whole request body
//!   ([`ServeOptions::body_timeout`], enforced by [`EdgeBody`]), an idle keep-alive connection
//!   ([`ServeOptions::idle_timeout`]). A body over [`ServeOptions::max_body_bytes`] is refused
//!   with 413 before any `100 Continue`. Refusals are answered by the caller's
//!   [`ServeOptions::refuse`] (its error dialect) and counted ([`metrics::REFUSED`]).
//! - Drain: on shutdown, stop accepting, let requests in flight finish, tell the application
//!   through [`Drain`] (started, then the grace's deadline), close what is left.
//! - TLS certificates reloaded when their files change ([`TlsServer`]).
//! - Cheap request IDs.

mod body;
mod connection;
mod drain;
pub mod metrics;
mod options;
mod serve;
mod tls;
mod woken;

use std::sync::atomic::{AtomicU64, Ordering};

pub use body::{BodyError, EdgeBody, ResponseBody};
pub use drain::Drain;
pub use options::{
    json_refusal, Refusal, Refuse, RequestHead, ServeOptions, DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONNECTIONS, DEFAULT_SHUTDOWN_GRACE,
    DEFAULT_TLS_RELOAD_EVERY, HARD_CLOSE_AFTER_DEADLINE,
};
pub use serve::{serve, Listener};
pub use tls::{TlsError, TlsFiles, TlsServer};

/// A request ID in AWS's UUID shape: a per-process random prefix and a counter, unique without
/// a random draw per request.
pub fn new_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let prefix = *PREFIX.get_or_init(rand::random::<u32>);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // `{prefix:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}` by hand: through format! this cost ~3k
    // instructions, on every request.
    let mut id = String::with_capacity(36);
    push_hex(&mut id, u64::from(prefix), 8);
    id.push('-');
    push_hex(&mut id, (n >> 48) & 0xffff, 4);
    id.push_str("-4");
    push_hex(&mut id, (n >> 36) & 0xfff, 3);
    id.push_str("-8");
    push_hex(&mut id, (n >> 24) & 0xfff, 3);
    id.push('-');
    push_hex(&mut id, n & 0xff_ffff_ffff, 12);
    id
}

/// Appends `n`'s last `width` hex digits (lower case, zero-padded).
fn push_hex(out: &mut String, n: u64, width: u32) {
    for place in (0..width).rev() {
        out.push(char::from(b"0123456789abcdef"[((n >> (4 * place)) & 0xf) as usize]));
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod request_id_tests {
    #[test]
    fn request_ids_are_unique_and_uuid_shaped() {
        let a = super::new_request_id();
        let b = super::new_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
        // The same text format! writes.
        let mut hex = String::new();
        super::push_hex(&mut hex, 0x0123_4567_89ab_cdef, 16);
        assert_eq!(hex, format!("{:016x}", 0x0123_4567_89ab_cdef_u64));
        super::push_hex(&mut hex, 0xabc, 5);
        assert_eq!(&hex[16..], "00abc");
    }
}
