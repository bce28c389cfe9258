//! Calendar arithmetic for the timestamps AWS protocols print (`20250102T030405Z`,
//! `2025-01-02T03:04:05Z`), without a date-time dependency.

use std::time::{SystemTime, UNIX_EPOCH};

/// Appends `n`'s last `width` decimal digits, zero-padded: what `format!("{n:02}")` writes, for
/// timestamps built per request (the formatting machinery cost ~800 instructions per field).
pub fn push_digits(out: &mut String, n: u64, width: u32) {
    for place in (0..width).rev() {
        let digit = (n / 10u64.pow(place)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

/// (year, month, day, hour, minute, second) in UTC.
pub fn utc_parts(time: SystemTime) -> (i64, i64, i64, u64, u64, u64) {
    let secs = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, rem / 3600, rem / 60 % 60, rem % 60)
}

/// Proleptic Gregorian (year, month, day) of a count of days since 1970-01-01 (negative before),
/// by splitting the count into 400-year eras (146 097 days each) with years starting in March,
/// so that the leap day falls at the end of a year (Howard Hinnant's civil_from_days).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1st
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
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

#[cfg(test)]
mod digit_tests {
    #[test]
    fn digits_are_zero_padded_to_their_width() {
        let mut s = String::new();
        super::push_digits(&mut s, 7, 2);
        super::push_digits(&mut s, 2025, 4);
        super::push_digits(&mut s, 0, 3);
        super::push_digits(&mut s, 123_456, 6);
        assert_eq!(s, "072025000123456");
    }
}
