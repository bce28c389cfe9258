//! Budget periods: the UTC day and the UTC calendar month an instant falls in, and when each
//! ends. The Lua scripts compute the same from Redis's clock (`shared/reserve.lua`); the tests
//! below pin this side, the conformance suite compares both.

use std::time::{Duration, UNIX_EPOCH};

const DAY_SECS: u64 = 86_400;

/// A period's number (days since the epoch, or `year * 12 + month - 1`) and its end in
/// milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Period {
    pub index: u64,
    pub end_ms: u64,
}

/// The UTC day of `now_ms`.
pub(crate) fn day(now_ms: u64) -> Period {
    let index = now_ms / 1000 / DAY_SECS;
    Period {
        index,
        end_ms: (index + 1) * DAY_SECS * 1000,
    }
}

/// The UTC calendar month of `now_ms`.
pub(crate) fn month(now_ms: u64) -> Period {
    let (year, month, ..) = strata_core::clock::utc_parts(UNIX_EPOCH + Duration::from_millis(now_ms));
    let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    let end_days = strata_core::clock::days_from_civil(next_year, next_month, 1);
    Period {
        index: u64::try_from(year * 12 + month - 1).unwrap_or(0),
        end_ms: u64::try_from(end_days).unwrap_or(0) * DAY_SECS * 1000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn ms(secs: u64) -> u64 {
        secs * 1000
    }

    #[test]
    fn days_end_at_utc_midnight() {
        // 2015-08-30T12:36:00Z
        let p = day(ms(1_440_938_160));
        assert_eq!(p.index, 16_677);
        assert_eq!(p.end_ms, ms(1_440_979_200), "2015-08-31T00:00:00Z");
        assert_eq!(day(ms(1_440_979_200)).index, 16_678, "midnight starts the next day");
    }

    #[test]
    fn months_end_on_the_first_of_the_next() {
        // 2000-02-29T00:00:00Z: a leap February ends on 2000-03-01.
        let p = month(ms(951_782_400));
        assert_eq!(p.index, 2000 * 12 + 1);
        assert_eq!(p.end_ms, ms(951_868_800));
        // 2024-12-31T23:59:59Z: December ends on 2025-01-01.
        let p = month(ms(1_735_689_599));
        assert_eq!(p.index, 2024 * 12 + 11);
        assert_eq!(p.end_ms, ms(1_735_689_600));
        assert_eq!(month(ms(1_735_689_600)).index, 2025 * 12);
        assert_eq!(strata_core::clock::days_from_civil(1970, 1, 1), 0);
    }
}
