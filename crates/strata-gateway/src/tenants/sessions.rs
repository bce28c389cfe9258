//! Dashboard sign-ins: an admin signs in once with an admin key and gets a session cookie.

use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "strata_session";

/// How long a dashboard session lasts.
pub const SESSION: Duration = Duration::from_secs(12 * 3600);

/// Dashboard sign-ins: random tokens (only their hashes kept) with an expiry. In memory: a
/// replica restarted, or another replica behind a load balancer, asks again.
#[derive(Debug, Default)]
pub struct Sessions {
    /// Until when each session lasts, by its token's SHA-256.
    open: parking_lot::Mutex<std::collections::HashMap<[u8; 32], Instant>>,
}

impl Sessions {
    /// A new session; returns its token.
    pub fn open(&self) -> String {
        let token = hex::encode(rand::random::<[u8; 32]>());
        let now = Instant::now();
        let mut open = self.open.lock();
        open.retain(|_, until| *until > now);
        open.insert(Self::hash(&token), now + SESSION);
        token
    }

    pub fn valid(&self, token: &str) -> bool {
        let now = Instant::now();
        self.open
            .lock()
            .get(&Self::hash(token))
            .is_some_and(|until| *until > now)
    }

    /// Whether `headers` carry the cookie of a live session.
    pub fn signed_in(&self, headers: &http::HeaderMap) -> bool {
        headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
            .any(|token| self.valid(token))
    }

    fn hash(token: &str) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(token.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_live_token_in_the_cookie_signs_in() {
        let sessions = Sessions::default();
        let token = sessions.open();
        let with = |cookie: &str| {
            let mut h = http::HeaderMap::new();
            h.insert(http::header::COOKIE, http::HeaderValue::from_str(cookie).unwrap());
            h
        };
        assert!(sessions.signed_in(&with(&format!("a=b; {COOKIE}={token}"))));
        assert!(!sessions.signed_in(&with(&format!("{COOKIE}={}", "0".repeat(64)))));
        assert!(!sessions.signed_in(&with(&format!("other_{COOKIE}={token}"))));
        assert!(!sessions.signed_in(&http::HeaderMap::new()));
    }
}
