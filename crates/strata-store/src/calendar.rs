//! UTC calendar days from Unix milliseconds, computed in Rust when a usage row is written so that
//! grouping by day is a plain column on every backend (no per-database date functions).

/// The UTC day of `at_ms` as `YYYY-MM-DD`.
pub(crate) fn utc_day(at_ms: i64) -> String {
    let days = at_ms.div_euclid(86_400_000);
    let (y, m, d) = strata_core::clock::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::utc_day;

    #[test]
    fn known_days() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(86_399_999), "1970-01-01");
        assert_eq!(utc_day(86_400_000), "1970-01-02");
        assert_eq!(utc_day(-1), "1969-12-31");
        // 2000-02-29 00:00:00 UTC (a leap day in a century year divisible by 400)
        assert_eq!(utc_day(951_782_400_000), "2000-02-29");
        assert_eq!(utc_day(951_868_800_000), "2000-03-01");
        // 2024-12-31 23:59:59.999 UTC and the next millisecond
        assert_eq!(utc_day(1_735_689_599_999), "2024-12-31");
        assert_eq!(utc_day(1_735_689_600_000), "2025-01-01");
        // 2100 is not a leap year: 2100-02-28 then 2100-03-01
        assert_eq!(utc_day(4_107_456_000_000), "2100-02-28");
        assert_eq!(utc_day(4_107_542_400_000), "2100-03-01");
    }

    #[test]
    fn every_day_follows_the_previous() {
        // Walk 1999-12-01 .. 2001-03-01 day by day: months and years roll over exactly once.
        let start = 944_006_400_000_i64; // 1999-12-01
        let mut previous = utc_day(start);
        assert_eq!(previous, "1999-12-01");
        for i in 1..456 {
            let day = utc_day(start + i * 86_400_000);
            assert!(day > previous, "{day} after {previous}");
            previous = day;
        }
        assert_eq!(previous, "2001-02-28");
    }
}
