//! Calendar arithmetic for the timestamps AWS protocols print (`20250102T030405Z`,
//! `2025-01-02T03:04:05Z`), without a date-time dependency.

use std::time::{SystemTime, UNIX_EPOCH};

/// (year, month, day, hour, minute, second) in UTC (Howard Hinnant's civil_from_days).
pub fn utc_parts(time: SystemTime) -> (i64, i64, i64, u64, u64, u64) {
    let secs = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem / 60 % 60, rem % 60)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of the civil_from_days step
/// in [`utc_parts`]; Howard Hinnant's days_from_civil).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_instants() {
        assert_eq!(utc_parts(UNIX_EPOCH), (1970, 1, 1, 0, 0, 0));
        assert_eq!(
            utc_parts(UNIX_EPOCH + Duration::from_secs(1_440_938_160)),
            (2015, 8, 30, 12, 36, 0)
        );
        assert_eq!(
            utc_parts(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            (2000, 2, 29, 0, 0, 0)
        );
    }

    #[test]
    fn days_from_civil_inverts_utc_parts() {
        for days in [0_i64, 1, 59, 60, 365, 11_016, 16_677, 20_000, 50_000] {
            let (y, m, d, ..) = utc_parts(UNIX_EPOCH + Duration::from_secs(days as u64 * 86_400));
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }
}
