//! A granted reservation: what was taken and where (this process or Redis), until it is settled
//! or cancelled.

use crate::local::LocalGrant;
use crate::shared::SharedGrant;
use crate::types::Headroom;

/// A reservation held until [`crate::Quotas::settle`] or [`crate::Quotas::cancel`]; if neither
/// comes, its concurrency slot and reserved spend are freed when its lease expires.
#[derive(Debug)]
#[must_use = "a grant is settled with the real usage or cancelled"]
pub struct Grant {
    /// The first scope's requests and tokens windows after this reservation.
    pub headroom: Headroom,
    held: Held,
}

// A local grant stays inline (no allocation per request on the local path), so it is larger.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Held {
    /// Every scope was unlimited.
    Nothing,
    Local(LocalGrant),
    Shared(SharedGrant),
}

impl Grant {
    pub(crate) fn new(held: Held, headroom: Headroom) -> Grant {
        Grant { headroom, held }
    }

    pub(crate) fn free() -> Grant {
        Grant::new(Held::Nothing, Headroom::default())
    }

    pub(crate) fn into_held(self) -> Held {
        self.held
    }

    /// Whether the reservation was taken in Redis (not in this process: local mode, or the
    /// stop-gap while Redis could not be asked).
    pub fn is_shared(&self) -> bool {
        matches!(self.held, Held::Shared(_))
    }

    /// Whether nothing was taken (every scope unlimited).
    pub fn is_free(&self) -> bool {
        matches!(self.held, Held::Nothing)
    }
}
