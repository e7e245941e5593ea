//! UTC milliseconds to the calendar date of a fixed time zone (Gregorian calendar, leap
//! years, no daylight saving time).

/// A UTC time and its date in the configured zone (`aiot_ntp_recv_t.data.local_time`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    /// UTC, milliseconds since 1970-01-01.
    pub timestamp: u64,
    pub year: u32,
    /// 1 to 12.
    pub mon: u32,
    /// 1 to 31.
    pub day: u32,
    pub hour: u32,
    pub min: u32,
    pub sec: u32,
    pub msec: u32,
}

const SECS_PER_DAY: i64 = 86_400;

/// The date of `utc_ms` in the zone `zone` hours east of UTC (negative: west).
///
/// Days are counted from the epoch in 400-year cycles (146,097 days each), so any `u64`
/// time converts in constant time. A negative zone that reaches before the epoch gives the
/// right date in 1969, where upstream's unsigned arithmetic wraps around.
pub fn local_time(utc_ms: u64, zone: i8) -> LocalTime {
    // utc_ms / 1000 < 2^54: no overflow in i64.
    let secs = (utc_ms / 1000) as i64 + i64::from(zone) * 3600;
    let days = secs.div_euclid(SECS_PER_DAY);
    let in_day = secs.rem_euclid(SECS_PER_DAY) as u32;
    let (year, mon, day) = civil_from_days(days);
    LocalTime {
        timestamp: utc_ms,
        year: year as u32,
        mon,
        day,
        hour: in_day / 3600,
        min: in_day % 3600 / 60,
        sec: in_day % 60,
        msec: (utc_ms % 1000) as u32,
    }
}

/// Year, month (1-12) and day (1-31) of the day `days` after 1970-01-01. The year is counted
/// from March so that the leap day ends it.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of the 400-year cycle, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the March-based year
    let mp = (5 * doy + 2) / 153; // month counted from March, 0..=11
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let mon = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(mon <= 2);
    (year, mon, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymdhms(t: &LocalTime) -> (u32, u32, u32, u32, u32, u32, u32) {
        (t.year, t.mon, t.day, t.hour, t.min, t.sec, t.msec)
    }

    /// The plain way: whole years, then whole months, from 1970 (only for times at or after
    /// the epoch in the zone).
    fn reference(utc_ms: u64, zone: i8) -> (u32, u32, u32, u32, u32, u32, u32) {
        let leap = |y: u32| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let secs = (utc_ms / 1000) as i64 + i64::from(zone) * 3600;
        let mut days = secs / 86_400;
        let in_day = (secs % 86_400) as u32;
        let mut year = 1970;
        while days >= if leap(year) { 366 } else { 365 } {
            days -= if leap(year) { 366 } else { 365 };
            year += 1;
        }
        let lengths = [
            31,
            if leap(year) { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        let mut mon = 0;
        while days >= lengths[mon] {
            days -= lengths[mon];
            mon += 1;
        }
        (
            year,
            mon as u32 + 1,
            days as u32 + 1,
            in_day / 3600,
            in_day % 3600 / 60,
            in_day % 60,
            (utc_ms % 1000) as u32,
        )
    }

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(ymdhms(&local_time(0, 0)), (1970, 1, 1, 0, 0, 0, 0));
        // 2024-02-29T00:00:00.123Z, a leap day.
        assert_eq!(
            ymdhms(&local_time(1_709_164_800_123, 0)),
            (2024, 2, 29, 0, 0, 0, 123)
        );
        // 2000 is a leap year (divisible by 400): 2000-02-29T12:34:56.789Z.
        assert_eq!(
            ymdhms(&local_time(951_827_696_789, 0)),
            (2000, 2, 29, 12, 34, 56, 789)
        );
        // 2100 is not (divisible by 100): 2100-02-28T23:59:59Z + 1 s is 2100-03-01.
        assert_eq!(
            ymdhms(&local_time(4_107_542_399_000, 0)),
            (2100, 2, 28, 23, 59, 59, 0)
        );
        assert_eq!(
            ymdhms(&local_time(4_107_542_400_000, 0)),
            (2100, 3, 1, 0, 0, 0, 0)
        );
        // 2023-12-31T23:59:59.999Z: the last millisecond of a year.
        assert_eq!(
            ymdhms(&local_time(1_704_067_199_999, 0)),
            (2023, 12, 31, 23, 59, 59, 999)
        );
    }

    #[test]
    fn zones_move_the_date_both_ways() {
        // 2036-02-29T23:30:00Z: east of UTC it is already March, west still the leap day.
        let utc = 2_087_940_600_000;
        assert_eq!(ymdhms(&local_time(utc, 0)), (2036, 2, 29, 23, 30, 0, 0));
        assert_eq!(ymdhms(&local_time(utc, 8)), (2036, 3, 1, 7, 30, 0, 0));
        assert_eq!(ymdhms(&local_time(utc, -5)), (2036, 2, 29, 18, 30, 0, 0));
        assert_eq!(ymdhms(&local_time(utc, 12)), (2036, 3, 1, 11, 30, 0, 0));
        assert_eq!(ymdhms(&local_time(utc, -12)), (2036, 2, 29, 11, 30, 0, 0));
        // New year: 2025-01-01T02:00:00Z is still 2024 five hours west.
        assert_eq!(
            ymdhms(&local_time(1_735_696_800_000, -5)),
            (2024, 12, 31, 21, 0, 0, 0)
        );
        // The timestamp stays UTC whatever the zone.
        assert_eq!(local_time(utc, -5).timestamp, utc);
    }

    #[test]
    fn before_the_epoch_in_a_western_zone() {
        assert_eq!(ymdhms(&local_time(0, -5)), (1969, 12, 31, 19, 0, 0, 0));
        assert_eq!(
            ymdhms(&local_time(3_599_999, -1)),
            (1969, 12, 31, 23, 59, 59, 999)
        );
        assert_eq!(ymdhms(&local_time(i8::MAX as u64, i8::MIN)).0, 1969);
    }

    #[test]
    fn extreme_times_do_not_panic() {
        let t = local_time(u64::MAX, i8::MAX);
        assert!(t.year > 500_000_000 && (1..=12).contains(&t.mon) && (1..=31).contains(&t.day));
        let t = local_time(u64::MAX, i8::MIN);
        assert!((1..=12).contains(&t.mon));
    }

    #[test]
    fn agrees_with_counting_years_and_months() {
        // Every day boundary of 1970-2500 would take long; a fixed-seed walk over many times
        // (leap days, month ends and new years included by density) in several zones.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let utc = x % 16_725_225_600_000; // up to 2500-01-01
            for zone in [-12i8, -5, -1, 0, 1, 8, 12, 14] {
                if (utc / 1000) as i64 + i64::from(zone) * 3600 < 0 {
                    continue;
                }
                assert_eq!(
                    ymdhms(&local_time(utc, zone)),
                    reference(utc, zone),
                    "utc {utc} zone {zone}"
                );
            }
        }
        for day in 0..(366 * 8) {
            let utc = 1_704_067_200_000 + day * 86_400_000 - 1; // around each midnight of 2024-2031
            for zone in [-5i8, 0, 8] {
                assert_eq!(ymdhms(&local_time(utc, zone)), reference(utc, zone));
            }
        }
    }
}
