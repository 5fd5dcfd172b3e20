//! Human-readable timestamps: unix milliseconds in the machine's local time
//! zone by default (`2024-05-01 14:03:20 +02:00`, via `chrono`), or with
//! `--utc` as `2024-05-01 12:03:20 UTC` (computed without a time zone
//! database, so it is the same on every machine).

use chrono::{Local, TimeZone};

/// Format unix milliseconds in UTC (`utc`) or the local time zone.
pub fn format(ms: i64, utc: bool) -> String {
    if utc {
        return self::utc(ms);
    }
    match Local.timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S %:z").to_string(),
        None => self::utc(ms),
    }
}

/// Format unix milliseconds as `2024-05-01 12:03:04 UTC`.
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::{format, utc};

    #[test]
    fn local_time_carries_its_offset_and_utc_is_explicit() {
        let local = format(1_714_565_000_123, false);
        assert!(local.starts_with("2024-05-0"), "{local}");
        assert!(local.contains('+') || local.contains('-'), "{local}");
        assert_eq!(format(1_714_565_000_123, true), "2024-05-01 12:03:20 UTC");
    }

    #[test]
    fn known_instants_format_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_714_565_000_123), "2024-05-01 12:03:20 UTC");
        assert_eq!(utc(-1000), "1969-12-31 23:59:59 UTC");
    }
}
