//! The period a reconciliation row covers: the clock hour where the bill is
//! hourly (GCP, AWS CUR, most FOCUS exports), the UTC day where it is daily
//! (Azure cost details). kubetally meters by the hour, so a daily bill is
//! compared with the sum of the day's hours.

use crate::bill::Bill;

const HOUR_S: i64 = 3_600;
const DAY_S: i64 = 86_400;

/// How finely a bill is cut in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Hour,
    Day,
}

impl Granularity {
    /// The grain of `bill`: hourly when at least half its lines span an
    /// hour or less, daily otherwise. A few longer lines (a monthly fee, a
    /// correction) do not make an hourly bill daily: they are counted in
    /// the period they start in.
    pub fn of(bill: &Bill) -> Granularity {
        let (mut short, mut all) = (0usize, 0usize);
        for line in &bill.lines {
            all += 1;
            if line.end_unix_s - line.start_unix_s <= HOUR_S {
                short += 1;
            }
        }
        if all > 0 && short * 2 < all {
            Granularity::Day
        } else {
            Granularity::Hour
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            Granularity::Hour => HOUR_S,
            Granularity::Day => DAY_S,
        }
    }

    /// Start of the period holding `unix_s`.
    pub fn period(self, unix_s: i64) -> i64 {
        unix_s - unix_s.rem_euclid(self.seconds())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Hour => "hourly",
            Granularity::Day => "daily",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_falls_in_the_hour_or_day_it_starts_in() {
        assert_eq!(Granularity::Hour.period(7_199), 3_600);
        assert_eq!(Granularity::Day.period(90_000), 86_400);
        assert_eq!(Granularity::Hour.period(-1), -3_600);
    }
}
