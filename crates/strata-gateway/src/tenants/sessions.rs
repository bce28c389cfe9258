//! Dashboard sign-ins: an admin signs in once with an admin key and gets a session cookie.

use std::time::{Duration, Instant};

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

    fn hash(token: &str) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(token.as_bytes()).into()
    }
}
