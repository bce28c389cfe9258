//! API key secrets: made here, shown to their owner once, and kept only as a SHA-256 hash.
//!
//! A secret carries ~238 random bits, so a plain (unsalted, fast) hash is enough: there is no
//! dictionary to try. Comparison is constant-time so that timing never tells how much of a
//! guessed hash matched.

use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What every secret starts with, so leaked keys are recognisable by secret scanners.
pub const SECRET_PREFIX: &str = "sk-strata-";
/// Random base62 characters after [`SECRET_PREFIX`] (≈ 5.95 bits each).
const SECRET_RANDOM_CHARS: usize = 40;
/// Random base62 characters in a key id (public: it names the key in logs and usage rows).
const ID_RANDOM_CHARS: usize = 20;
/// Random characters of the secret kept for display, after [`SECRET_PREFIX`].
const DISPLAY_RANDOM_CHARS: usize = 4;

/// A new key: its id (`key_…`, public) and its secret (`sk-strata-…`, to be shown once).
///
/// Drawn from the thread-local CSPRNG (ChaCha, seeded from the OS).
pub fn generate() -> (String, String) {
    let mut rng = rand::rng();
    let id = format!("key_{}", Alphanumeric.sample_string(&mut rng, ID_RANDOM_CHARS));
    let secret = format!(
        "{SECRET_PREFIX}{}",
        Alphanumeric.sample_string(&mut rng, SECRET_RANDOM_CHARS)
    );
    (id, secret)
}

/// The lowercase hex SHA-256 of a secret: what the store keeps.
pub fn hash(secret: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(digest.len() * 2);
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

/// Whether `secret` hashes to `hash_hex` (lowercase hex, as made by [`hash`]), in constant time.
pub fn verify(secret: &str, hash_hex: &str) -> bool {
    // A length mismatch reveals nothing secret: every stored hash has the same length.
    hash(secret).as_bytes().ct_eq(hash_hex.as_bytes()).into()
}

/// The start of a secret that may be shown in listings (`sk-strata-AbCd`): enough to tell keys
/// apart, far too little to guess the rest.
pub fn display_prefix(secret: &str) -> String {
    let keep = SECRET_PREFIX.len() + DISPLAY_RANDOM_CHARS;
    secret.chars().take(keep).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_their_shape_and_differ() {
        let (id, secret) = generate();
        assert!(id.starts_with("key_") && id.len() == 4 + ID_RANDOM_CHARS, "{id}");
        let random = secret.strip_prefix(SECRET_PREFIX).unwrap();
        assert_eq!(random.len(), SECRET_RANDOM_CHARS);
        assert!(random.bytes().all(|b| b.is_ascii_alphanumeric()));
        let (id2, secret2) = generate();
        assert_ne!(id, id2);
        assert_ne!(secret, secret2);
    }

    #[test]
    fn hash_is_sha256_hex() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn verify_accepts_only_the_secret() {
        let (_, secret) = generate();
        let stored = hash(&secret);
        assert!(verify(&secret, &stored));
        assert!(!verify(&format!("{secret}x"), &stored));
        assert!(!verify("sk-strata-wrong", &stored));
        assert!(!verify(&secret, &stored[..63]));
        assert!(!verify(&secret, ""));
    }

    #[test]
    fn display_prefix_keeps_a_few_characters() {
        assert_eq!(display_prefix("sk-strata-AbCdEfGh"), "sk-strata-AbCd");
        assert_eq!(display_prefix("short"), "short");
    }
}
