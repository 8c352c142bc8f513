//! The dataset's Hive partition folders, `cluster=<name>/date=<YYYY-MM-DD>`,
//! and which file names in them are published: the one place that knows
//! how a partition is named, for the writer ([`super::Dataset`]), the
//! mirror of an object store and the local readers ([`super::files`]).
//!
//! A folder value is taken as it is written (no percent-decoding): the
//! writer never encodes, and an engine that decodes (polars) is the
//! caller's concern.

use chrono::NaiveDate;

const CLUSTER: &str = "cluster=";
const DATE: &str = "date=";
/// How a `date=` folder writes its day.
const DATE_FORMAT: &str = "%Y-%m-%d";

/// The folders of the partition of `cluster` and `day`, outermost first.
pub fn folders(cluster: &str, day: NaiveDate) -> [String; 2] {
    [
        format!("{CLUSTER}{cluster}"),
        format!("{DATE}{}", day.format(DATE_FORMAT)),
    ]
}

/// The cluster a `cluster=<name>` folder holds; `None` for another folder.
pub fn cluster(folder: &str) -> Option<&str> {
    folder.strip_prefix(CLUSTER)
}

/// The day a `date=<YYYY-MM-DD>` folder holds: `None` for another folder,
/// `Some(Err(value))` for a `date=` folder whose value is not a day.
pub fn date(folder: &str) -> Option<Result<NaiveDate, &str>> {
    let value = folder.strip_prefix(DATE)?;
    Some(NaiveDate::parse_from_str(value, DATE_FORMAT).map_err(|_| value))
}

/// The start of the name of `writer`'s files of the hour `hour` (0–23)
/// of a day: `part-HH-<writer>-`, then a sequence number.
pub fn file_stem(hour: u32, writer: &str) -> String {
    format!("part-{hour:02}-{writer}-")
}

/// The hour of the day a file named by [`file_stem`] holds; `None` for a
/// name of another form (a file another tool put there).
pub fn file_hour(name: &str) -> Option<u32> {
    let hour = name.strip_prefix("part-")?.get(..3)?.strip_suffix('-')?;
    hour.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| hour.parse().ok())
        .flatten()
        .filter(|h| *h < 24)
}

/// Whether `name` is a published table file: `.parquet`, and not hidden
/// or `_`-prefixed (a file being written is `.part-….parquet.tmp`; engines
/// such as Spark leave `_SUCCESS` markers).
pub fn is_published(name: &str) -> bool {
    name.ends_with(".parquet") && !name.starts_with(['.', '_'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_files_hour_reads_back_from_its_name() {
        let name = format!("{}0003.parquet", file_stem(7, "w"));
        assert_eq!(name, "part-07-w-0003.parquet");
        assert_eq!(file_hour(&name), Some(7));
        assert_eq!(file_hour("part-23-x-0000.parquet"), Some(23));
        for other in [
            "part-24-w-0000.parquet",
            "part-7-w.parquet",
            "data.parquet",
            "part-+1-w-0.parquet",
        ] {
            assert_eq!(file_hour(other), None, "{other}");
        }
    }

    #[test]
    fn folders_read_back_as_what_was_written() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or_default();
        let [c, d] = folders("prod-eu", day);
        assert_eq!(
            (c.as_str(), d.as_str()),
            ("cluster=prod-eu", "date=2026-11-02")
        );
        assert_eq!(cluster(&c), Some("prod-eu"));
        assert_eq!(date(&d), Some(Ok(day)));
    }

    #[test]
    fn a_date_folder_that_is_not_a_day_is_told_apart_from_another_folder() {
        assert_eq!(date("date=2026-13-45"), Some(Err("2026-13-45")));
        assert_eq!(date("hour=07"), None);
        assert_eq!(cluster("date=2026-11-02"), None);
    }

    #[test]
    fn only_visible_parquet_files_are_published() {
        assert!(is_published("part-07-w-0000.parquet"));
        assert!(!is_published(".part-07-w-0000.parquet.tmp"));
        assert!(!is_published(".part-07-w-0000.parquet"));
        assert!(!is_published("_SUCCESS"));
        assert!(!is_published("readme.txt"));
    }
}
