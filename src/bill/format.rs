//! Which export a file is: one table of column signatures, one function.

use std::fmt;
use std::str::FromStr;

use super::table::Header;

/// The billing exports kubetally reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// FOCUS 1.0–1.3 cost and usage (all three clouds export it).
    Focus,
    /// GCP's detailed usage cost export, as BigQuery writes it to files.
    Gcp,
    /// AWS CUR 2.0 (snake_case columns; also legacy CUR as Athena names it).
    AwsCur2,
    /// Legacy AWS CUR with `lineItem/UsageStartDate`-style columns.
    AwsCurLegacy,
    /// Azure cost details (EA, MCA, pay-as-you-go; actual or amortised).
    Azure,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Focus,
        Format::Gcp,
        Format::AwsCur2,
        Format::AwsCurLegacy,
        Format::Azure,
    ];

    /// The name `--bill-format` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Focus => "focus",
            Format::Gcp => "gcp",
            Format::AwsCur2 => "aws-cur2",
            Format::AwsCurLegacy => "aws-cur-legacy",
            Format::Azure => "azure",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `--bill-format`: a format, or `auto` to recognise it by its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FormatChoice {
    #[default]
    Auto,
    Exactly(Format),
}

impl FromStr for FormatChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "auto" {
            return Ok(FormatChoice::Auto);
        }
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == text)
            .map(FormatChoice::Exactly)
            .ok_or_else(|| {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
                format!(
                    "unknown bill format {text:?}; expected auto, {}",
                    names.join(", ")
                )
            })
    }
}

/// Each format's signature, in the order they are tried: groups of column
/// keys (lower case, see [`super::table::column_key`]); a header matches
/// when it has a column of every group. FOCUS comes first: a provider's
/// FOCUS export may carry its native columns as `x_` extensions, never the
/// other way round.
pub const SIGNATURES: &[(Format, &[&[&str]])] = &[
    (
        Format::Focus,
        &[&["billedcost"], &["effectivecost"], &["chargeperiodstart"]],
    ),
    (
        Format::Gcp,
        &[
            &["usage_start_time"],
            &["cost"],
            &["sku.id", "sku.description"],
            &["service.id", "service.description"],
        ],
    ),
    (
        Format::AwsCur2,
        &[
            &["line_item_usage_start_date"],
            &["line_item_unblended_cost"],
        ],
    ),
    (
        Format::AwsCurLegacy,
        &[&["lineitem/usagestartdate"], &["lineitem/unblendedcost"]],
    ),
    (
        Format::Azure,
        &[
            &["metercategory"],
            &["costinbillingcurrency", "cost", "pretaxcost"],
            &["date", "usagedatetime"],
        ],
    ),
];

/// The format whose signature `header` matches first.
pub(crate) fn detect(header: &Header) -> Option<Format> {
    SIGNATURES
        .iter()
        .find(|(_, groups)| {
            groups
                .iter()
                .all(|group| group.iter().any(|key| header.has(key)))
        })
        .map(|(format, _)| *format)
}

/// The formats tried, for an error message.
pub(crate) fn tried() -> String {
    SIGNATURES
        .iter()
        .map(|(f, _)| f.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(names: &[&str]) -> Header {
        Header::new(names.iter().map(|n| (*n).to_owned()).collect())
    }

    #[test]
    fn each_format_is_recognised_by_its_columns() {
        let cases: &[(&[&str], Option<Format>)] = &[
            (
                &["BilledCost", "EffectiveCost", "ChargePeriodStart"],
                Some(Format::Focus),
            ),
            (
                &["usage_start_time", "cost", "sku.id", "service.description"],
                Some(Format::Gcp),
            ),
            (
                &["line_item_usage_start_date", "line_item_unblended_cost"],
                Some(Format::AwsCur2),
            ),
            (
                &["lineItem/UsageStartDate", "lineItem/UnblendedCost"],
                Some(Format::AwsCurLegacy),
            ),
            (
                &["MeterCategory", "CostInBillingCurrency", "Date"],
                Some(Format::Azure),
            ),
            (
                &["meterCategory", "costInBillingCurrency", "date"],
                Some(Format::Azure),
            ),
            (
                &[
                    "UsageDateTime (UsageDateTime)",
                    "Kategorie (MeterCategory)",
                    "PreTaxCost",
                ],
                Some(Format::Azure),
            ),
            (&["BilledCost", "ChargeCategory"], None),
            (&["a", "b"], None),
        ];
        for (names, expected) in cases {
            assert_eq!(detect(&header(names)), *expected, "{names:?}");
        }
    }

    #[test]
    fn format_choices_parse_from_their_flag_names() {
        assert_eq!("auto".parse(), Ok(FormatChoice::Auto));
        assert_eq!(
            "aws-cur2".parse(),
            Ok(FormatChoice::Exactly(Format::AwsCur2))
        );
        assert!("csv".parse::<FormatChoice>().is_err());
    }
}
