//! Quantity parsing against apimachinery's own test tables, plus properties.

use std::str::FromStr;

use kubetally::model::{Quantity, QuantityFormat};
use num_bigint::BigInt;
use proptest::prelude::*;
use serde::Deserialize;

/// `tests/data/apimachinery_quantity.json`: the tables of
/// kubernetes/apimachinery `pkg/api/resource/quantity_test.go`, as data.
#[derive(Deserialize)]
struct Tables {
    source: String,
    parse: Vec<ParseCase>,
    parse_invalid: Vec<String>,
    parse_large: Vec<LargeCase>,
    parse_emit: Vec<EmitCase>,
    string: Vec<StringCase>,
}

#[derive(Deserialize)]
struct ParseCase {
    input: String,
    value: String,
    format: String,
}

#[derive(Deserialize)]
struct LargeCase {
    input: String,
    value: String,
    canonical: String,
}

#[derive(Deserialize)]
struct EmitCase {
    input: String,
    canonical: String,
}

#[derive(Deserialize)]
struct StringCase {
    value: String,
    format: String,
    canonical: String,
    alternate: Option<String>,
}

fn tables() -> Tables {
    let text = include_str!("data/apimachinery_quantity.json");
    serde_json::from_str(text).unwrap_or_else(|error| panic!("apimachinery_quantity.json: {error}"))
}

/// An exact decimal string ("-12.5") in nano-units, independently of the parser.
fn nanos_of(decimal: &str) -> i128 {
    let (negative, digits) = match decimal.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, decimal),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    assert!(fraction.len() <= 9, "{decimal} is finer than a nano");
    let text = format!("{whole}{fraction:0<9}");
    let magnitude = i128::from_str(&text).unwrap_or_else(|error| panic!("{decimal}: {error}"));
    if negative { -magnitude } else { magnitude }
}

fn format_of(name: &str) -> QuantityFormat {
    match name {
        "DecimalSI" => QuantityFormat::DecimalSi,
        "BinarySI" => QuantityFormat::BinarySi,
        "DecimalExponent" => QuantityFormat::DecimalExponent,
        other => panic!("unknown format {other}"),
    }
}

fn parse(input: &str) -> Quantity {
    Quantity::parse(input).unwrap()
}

#[test]
fn apimachinery_parse_table_passes_with_every_sign() {
    let tables = tables();
    assert!(tables.source.contains("quantity_test.go"));
    assert_eq!(tables.parse.len(), 96, "the whole TestQuantityParse table");
    for case in &tables.parse {
        let expected = nanos_of(&case.value);
        let format = format_of(&case.format);
        for (input, sign) in [
            (case.input.clone(), 1),
            (format!("-{}", case.input), -1),
            (format!("+{}", case.input), 1),
        ] {
            let quantity = parse(&input);
            assert_eq!(quantity.nanos(), sign * expected, "{input}");
            assert_eq!(quantity.format(), format, "{input}");
        }
    }
}

#[test]
fn apimachinery_invalid_inputs_are_rejected() {
    let tables = tables();
    assert_eq!(tables.parse_invalid.len(), 11);
    for input in &tables.parse_invalid {
        let error = Quantity::parse(input).expect_err(input);
        assert_eq!(&error.input, input);
    }
}

#[test]
fn apimachinery_large_values_parse_exactly_and_print_canonically() {
    let tables = tables();
    assert_eq!(tables.parse_large.len(), 72);
    for case in &tables.parse_large {
        let quantity = parse(&case.input);
        assert_eq!(quantity.nanos(), nanos_of(&case.value), "{}", case.input);
        assert_eq!(quantity.to_string(), case.canonical, "{}", case.input);
    }
}

#[test]
fn apimachinery_parse_emit_table_passes_with_both_signs() {
    for case in tables().parse_emit {
        assert_eq!(
            parse(&case.input).to_string(),
            case.canonical,
            "{}",
            case.input
        );
        assert_eq!(
            parse(&format!("-{}", case.input)).to_string(),
            format!("-{}", case.canonical)
        );
    }
}

#[test]
fn apimachinery_string_table_passes() {
    for case in tables().string {
        let quantity = Quantity::from_nanos(nanos_of(&case.value), format_of(&case.format));
        assert_eq!(quantity.to_string(), case.canonical, "{}", case.value);
        assert_eq!(parse(&case.canonical).to_string(), case.canonical);
        if let Some(alternate) = &case.alternate {
            assert_eq!(
                parse(alternate).to_string(),
                case.canonical,
                "alternate {alternate}"
            );
        }
        if !quantity.is_zero() {
            let negative = Quantity::from_nanos(-quantity.nanos(), quantity.format());
            assert_eq!(negative.to_string(), format!("-{}", case.canonical));
        }
    }
}

/// ⌈|digits × 10^exp10 × 2^exp2| × 10⁹⌉ with the sign, by big-integer
/// arithmetic; binary quantities saturate at 2⁶³−1 units, as apimachinery's do.
fn oracle_nanos(negative: bool, whole: u64, fraction: &str, exp10: i32, exp2: u32) -> BigInt {
    let digits = BigInt::from_str(&format!("{whole}{fraction}")).unwrap_or_default() << exp2;
    let scale = exp10 + 9 - fraction.len() as i32;
    let magnitude = if scale >= 0 {
        digits * BigInt::from(10).pow(scale as u32)
    } else {
        let divisor = BigInt::from(10).pow(scale.unsigned_abs());
        let quotient = &digits / &divisor;
        if &quotient * &divisor == digits {
            quotient
        } else {
            quotient + 1
        }
    };
    let binary_max = BigInt::from(i64::MAX) * 1_000_000_000;
    let magnitude = if exp2 > 0 && magnitude > binary_max {
        binary_max
    } else {
        magnitude
    };
    if negative { -magnitude } else { magnitude }
}

const SUFFIXES: [(&str, i32, u32); 16] = [
    ("n", -9, 0),
    ("u", -6, 0),
    ("m", -3, 0),
    ("", 0, 0),
    ("k", 3, 0),
    ("M", 6, 0),
    ("G", 9, 0),
    ("T", 12, 0),
    ("P", 15, 0),
    ("Ki", 0, 10),
    ("Mi", 0, 20),
    ("Gi", 0, 30),
    ("Ti", 0, 40),
    ("e-7", -7, 0),
    ("E+4", 4, 0),
    ("e2", 2, 0),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parses_generated_quantities_exactly(
        negative in any::<bool>(),
        whole in 0_u64..10_000_000,
        fraction in "[0-9]{0,12}",
        suffix in 0..SUFFIXES.len(),
    ) {
        let (text, exp10, exp2) = SUFFIXES[suffix];
        let input = format!("{}{whole}.{fraction}{text}", if negative { "-" } else { "" });
        let quantity = parse(&input);
        let expected = oracle_nanos(negative, whole, &fraction, exp10, exp2);
        prop_assert_eq!(BigInt::from(quantity.nanos()), expected, "{}", input);
    }

    #[test]
    fn canonical_strings_round_trip(nanos in -(10_i128.pow(30))..10_i128.pow(30), format in 0..3_u8) {
        let format = [QuantityFormat::DecimalSi, QuantityFormat::BinarySi, QuantityFormat::DecimalExponent][format as usize];
        let nanos = if format == QuantityFormat::BinarySi { nanos % (i128::from(i64::MAX) * 1_000_000_000) } else { nanos };
        let quantity = Quantity::from_nanos(nanos, format);
        let text = quantity.to_string();
        let again = parse(&text);
        prop_assert_eq!(again.nanos(), nanos, "{}", text);
        prop_assert_eq!(again.to_string(), text);
    }

    #[test]
    fn whole_byte_quantities_round_trip_through_bytes(bytes in -i64::MAX..=i64::MAX) {
        let quantity = Quantity::from_bytes(bytes);
        prop_assert_eq!(parse(&quantity.to_string()).as_bytes(), bytes);
    }

    #[test]
    fn cores_are_exact_to_the_nano(nanos in 0_i128..(1_i128 << 21) * 1_000_000_000) {
        let cores = Quantity::from_nanos(nanos, QuantityFormat::DecimalSi).as_cores();
        prop_assert_eq!(nanos_of(&format!("{cores:.9}")), nanos);
    }
}
