//! Kubernetes resource quantities, parsed exactly as the API server parses them.
//!
//! Every request, limit, capacity and usage figure kubetally meters arrives as a
//! `resource.Quantity` string (`"250m"`, `"1.5Gi"`, `"1.3E+6"`, `"123456789n"`).
//! A cost meter that reads `1.5Gi` as 1 GiB (as some crates do in their integer
//! conversions) mis-bills every pod that uses it, so this module reproduces
//! apimachinery's `ParseQuantity` semantics bit for bit and is tested against
//! apimachinery's own test tables (`tests/data/apimachinery_quantity.json`).
//!
//! The one decision that shapes it: a quantity is held as a signed count of
//! **nano-units in an `i128`**. The API server rounds every quantity up to the
//! nearest nano (`3.001n` → `4n`), so nano-units are exact; `i128` holds every
//! value the API server can hold in an `int64` (and the decimal values past it
//! that its tests exercise, up to about 1.7 × 10²⁹) without big-number
//! arithmetic on the hot path. Only inputs with more than 38 significant digits,
//! or long fractions with a binary suffix, take a slow path through `num-bigint`.
//!
//! Deliberate differences from apimachinery, all on inputs no API server emits:
//! - A mantissa without any digit (`e3`, `.`, `Ki`) is an error; Go reads it as 0.
//! - Decimal values beyond ±(2¹²⁷−1) nano-units saturate there; Go keeps them
//!   exact in an arbitrary-precision decimal. Binary values saturate at
//!   ±(2⁶³−1) exactly as Go does.
//! - An exponent beyond ±2⁶³ is an error and very large ones saturate; Go
//!   truncates the exponent to 32 bits.
//! - Canonical decimal strings above `999E` keep the `E` suffix (`1000E`);
//!   Go prints the bare mantissa without its exponent there.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use num_bigint::BigUint;

/// Nano-units per unit.
const NANOS_PER_UNIT: i128 = 1_000_000_000;
/// The largest magnitude of a binary-SI quantity (apimachinery's `maxAllowed`, 2⁶³−1 units).
const MAX_BINARY_NANOS: u128 = i64::MAX as u128 * NANOS_PER_UNIT as u128;
/// The largest magnitude of any quantity (our representation's limit).
const MAX_NANOS: u128 = i128::MAX as u128;
/// Digits of the largest power of ten below `u128::MAX` (10³⁸).
const MAX_POW10_U128: u32 = 38;

/// How a quantity was written, which is also how it is written back.
///
/// Mirrors apimachinery's `Format`: the canonical string keeps the family of
/// suffix the user chose (`1Gi` stays binary, `1G` decimal, `1e9` exponent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantityFormat {
    /// `n u m "" k M G T P E`: powers of 1000.
    DecimalSi,
    /// `Ki Mi Gi Ti Pi Ei`: powers of 1024.
    BinarySi,
    /// `e<N>` / `E<N>`: an explicit power of ten.
    DecimalExponent,
}

impl QuantityFormat {
    /// The name apimachinery gives the format (`"DecimalSI"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            QuantityFormat::DecimalSi => "DecimalSI",
            QuantityFormat::BinarySi => "BinarySI",
            QuantityFormat::DecimalExponent => "DecimalExponent",
        }
    }
}

/// A Kubernetes resource quantity with nano-unit precision.
///
/// Equality and ordering compare values only, as apimachinery's `Cmp` does:
/// `1Gi == 1073741824` although their formats differ.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    nanos: i128,
    format: QuantityFormat,
}

/// Why a quantity string was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuantityErrorKind {
    /// The string is empty.
    Empty,
    /// The number has no digit at all (`e3`, `.`, `Ki`).
    NoDigits,
    /// A character that cannot appear at this position (whitespace, a second `.`, `--`).
    UnexpectedCharacter { position: usize, character: char },
    /// The suffix is none of the SI, binary or exponent suffixes.
    UnknownSuffix { suffix: String },
}

/// A quantity string that is not a valid Kubernetes quantity.
///
/// Its message names the input and what is wrong with it, on one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid quantity {input:?}: {kind}")]
pub struct ParseQuantityError {
    /// The rejected input, verbatim.
    pub input: String,
    /// What is wrong with it.
    pub kind: QuantityErrorKind,
}

impl fmt::Display for QuantityErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantityErrorKind::Empty => f.write_str("empty string"),
            QuantityErrorKind::NoDigits => f.write_str("no digits before the suffix"),
            QuantityErrorKind::UnexpectedCharacter {
                position,
                character,
            } => write!(f, "unexpected {character:?} at byte {position}"),
            QuantityErrorKind::UnknownSuffix { suffix } => write!(
                f,
                "unknown suffix {suffix:?} (expected one of n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or e<exponent>)"
            ),
        }
    }
}

impl Quantity {
    /// The zero quantity (`"0"`).
    pub const ZERO: Quantity = Quantity {
        nanos: 0,
        format: QuantityFormat::DecimalSi,
    };

    /// Parses a quantity string as apimachinery's `ParseQuantity` does.
    ///
    /// Values are rounded up (away from zero) to the nearest nano-unit; binary
    /// quantities saturate at 2⁶³−1 units.
    ///
    /// # Errors
    ///
    /// [`ParseQuantityError`] for an empty string, whitespace anywhere, a
    /// mantissa without digits, a character out of place or an unknown suffix.
    ///
    /// ```
    /// use kubetally::model::Quantity;
    /// let q: Quantity = "1.5Gi".parse()?;
    /// assert_eq!(q.as_bytes(), 1_610_612_736);
    /// assert_eq!(q.to_string(), "1536Mi");
    /// assert_eq!("250m".parse::<Quantity>()?.as_cores(), 0.25);
    /// # Ok::<(), kubetally::model::ParseQuantityError>(())
    /// ```
    pub fn parse(input: &str) -> Result<Quantity, ParseQuantityError> {
        parse(input).map_err(|kind| ParseQuantityError {
            input: input.to_owned(),
            kind,
        })
    }

    /// A quantity of `nanos` nano-units in the given format.
    pub fn from_nanos(nanos: i128, format: QuantityFormat) -> Quantity {
        Quantity { nanos, format }
    }

    /// A CPU quantity from cores, rounded up to the nano-core.
    ///
    /// Non-finite input saturates (NaN is zero) rather than panicking: the
    /// value comes from arithmetic on measured data.
    pub fn from_cores(cores: f64) -> Quantity {
        let nanos = (cores * NANOS_PER_UNIT as f64).ceil();
        Quantity::from_nanos(f64_to_i128_saturating(nanos), QuantityFormat::DecimalSi)
    }

    /// A memory quantity from bytes, in binary-SI format (`Ki`, `Mi`, …).
    pub fn from_bytes(bytes: i64) -> Quantity {
        Quantity::from_nanos(i128::from(bytes) * NANOS_PER_UNIT, QuantityFormat::BinarySi)
    }

    /// The exact value in nano-units (nano-cores for CPU, nano-bytes for memory).
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The format the quantity was written in.
    pub fn format(&self) -> QuantityFormat {
        self.format
    }

    /// Whether the value is exactly zero.
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// The value as CPU cores.
    ///
    /// Exact to the nano-core below 2²¹ cores (about two million): there the
    /// spacing of `f64` values is under half a nano-core, so the one correctly
    /// rounded division lands nearest the exact value and printing it with nine
    /// decimals gives the nano count back.
    pub fn as_cores(&self) -> f64 {
        self.nanos as f64 / NANOS_PER_UNIT as f64
    }

    /// The value in whole units rounded up away from zero, saturating at the
    /// `i64` range: apimachinery's `Quantity.Value()`. For memory, bytes.
    pub fn as_bytes(&self) -> i64 {
        self.scaled_ceil(NANOS_PER_UNIT)
    }

    /// The value in thousandths rounded up away from zero, saturating at the
    /// `i64` range: apimachinery's `Quantity.MilliValue()`.
    pub fn as_millis(&self) -> i64 {
        self.scaled_ceil(1_000_000)
    }

    /// The sum of two quantities, saturating at the representable range, in the
    /// format of `self` (apimachinery's `Add` keeps the receiver's format).
    pub fn saturating_add(self, other: Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos.saturating_add(other.nanos),
            format: self.format,
        }
    }

    fn scaled_ceil(&self, nanos_per_step: i128) -> i64 {
        let quotient = self.nanos / nanos_per_step;
        let rounded = if self.nanos % nanos_per_step == 0 {
            quotient
        } else {
            quotient + self.nanos.signum()
        };
        i64::try_from(rounded).unwrap_or(if rounded < 0 { i64::MIN } else { i64::MAX })
    }
}

impl Default for Quantity {
    fn default() -> Quantity {
        Quantity::ZERO
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Quantity) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Quantity) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Quantity) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl std::hash::Hash for Quantity {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl FromStr for Quantity {
    type Err = ParseQuantityError;

    fn from_str(s: &str) -> Result<Quantity, ParseQuantityError> {
        Quantity::parse(s)
    }
}

/// Canonical form, as apimachinery's `Quantity.String()`: no fractional
/// digits, the largest suffix that loses no precision, the sign only when
/// negative. Binary quantities below 1024 or with a fraction print as decimal.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let whole = self.nanos / NANOS_PER_UNIT;
        let is_integer = self.nanos % NANOS_PER_UNIT == 0;
        if self.format == QuantityFormat::BinarySi && is_integer && whole.unsigned_abs() >= 1024 {
            let (mut mantissa, mut power) = (whole, 0);
            while power < BINARY_SUFFIXES.len() - 1 && mantissa % 1024 == 0 {
                mantissa /= 1024;
                power += 1;
            }
            return write!(f, "{mantissa}{}", BINARY_SUFFIXES[power]);
        }
        // Decimal: move factors of ten into the exponent, then back until the
        // exponent is a multiple of three (never more than we moved out).
        let (mut mantissa, mut exponent) = (self.nanos, -9_i32);
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        while exponent.rem_euclid(3) != 0 {
            mantissa *= 10;
            exponent -= 1;
        }
        if self.format == QuantityFormat::DecimalExponent {
            return if exponent == 0 {
                write!(f, "{mantissa}")
            } else {
                write!(f, "{mantissa}e{exponent}")
            };
        }
        while exponent > 18 {
            mantissa *= 1000;
            exponent -= 3;
        }
        let suffix = match exponent {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            18 => "E",
            _ => "",
        };
        write!(f, "{mantissa}{suffix}")
    }
}

impl serde::Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Quantity, D::Error> {
        // Parsed from the text as the deserializer lends it: no String per
        // value (two per container of every metrics tick).
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Quantity;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a Kubernetes quantity string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Quantity, E> {
                Quantity::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Text)
    }
}

const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// Characters apimachinery's scanner accepts in a suffix before an optional
/// exponent sign and digits.
const SUFFIX_CHARS: &[u8] = b"eEinumkKMGTP";

/// A parsed suffix: the value is the number × 10^`decimal_exponent` × 2^`binary_exponent`.
struct Suffix {
    decimal_exponent: i64,
    binary_exponent: u32,
    format: QuantityFormat,
}

fn parse(input: &str) -> Result<Quantity, QuantityErrorKind> {
    let bytes = input.as_bytes();
    if bytes.is_empty() {
        return Err(QuantityErrorKind::Empty);
    }
    let mut pos = 0;
    let negative = match bytes[0] {
        b'-' => {
            pos += 1;
            true
        }
        b'+' => {
            pos += 1;
            false
        }
        _ => false,
    };
    let integer_start = pos;
    pos = skip_digits(bytes, pos);
    let integer_digits = &input[integer_start..pos];
    let mut fraction_digits = "";
    if bytes.get(pos) == Some(&b'.') {
        pos += 1;
        let fraction_start = pos;
        pos = skip_digits(bytes, pos);
        fraction_digits = &input[fraction_start..pos];
    }
    let suffix_start = pos;
    while pos < bytes.len() && SUFFIX_CHARS.contains(&bytes[pos]) {
        pos += 1;
    }
    if matches!(bytes.get(pos), Some(b'+' | b'-')) {
        pos += 1;
    }
    pos = skip_digits(bytes, pos);
    if pos < bytes.len() {
        let character = input[pos..].chars().next().unwrap_or('\u{fffd}');
        return Err(QuantityErrorKind::UnexpectedCharacter {
            position: pos,
            character,
        });
    }
    let suffix = interpret_suffix(&input[suffix_start..])?;
    if integer_digits.is_empty() && fraction_digits.is_empty() {
        return Err(QuantityErrorKind::NoDigits);
    }

    let significant = format!("{integer_digits}{fraction_digits}");
    let significant = significant.trim_start_matches('0');
    let format = suffix.format;
    if significant.is_empty() {
        return Ok(Quantity { nanos: 0, format });
    }
    // value = significant × 10^scale × 2^binary_exponent, in nano-units.
    let scale = i128::from(suffix.decimal_exponent) - fraction_digits.len() as i128 + 9;
    let magnitude = nanos_rounded_up(significant, scale, suffix.binary_exponent);
    let limit = if format == QuantityFormat::BinarySi {
        MAX_BINARY_NANOS
    } else {
        MAX_NANOS
    };
    let magnitude = magnitude.min(limit);
    // A binary quantity below one unit has no binary spelling.
    let format = if format == QuantityFormat::BinarySi && magnitude < NANOS_PER_UNIT as u128 {
        QuantityFormat::DecimalSi
    } else {
        format
    };
    // magnitude ≤ i128::MAX by the limit above.
    let nanos = i128::try_from(magnitude).unwrap_or(i128::MAX);
    Ok(Quantity {
        nanos: if negative { -nanos } else { nanos },
        format,
    })
}

fn skip_digits(bytes: &[u8], mut pos: usize) -> usize {
    while pos < bytes.len() && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    pos
}

fn interpret_suffix(suffix: &str) -> Result<Suffix, QuantityErrorKind> {
    let decimal = |decimal_exponent| {
        Ok(Suffix {
            decimal_exponent,
            binary_exponent: 0,
            format: QuantityFormat::DecimalSi,
        })
    };
    let binary = |binary_exponent| {
        Ok(Suffix {
            decimal_exponent: 0,
            binary_exponent,
            format: QuantityFormat::BinarySi,
        })
    };
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let exponent = suffix
                .strip_prefix(['e', 'E'])
                .and_then(|digits| digits.parse::<i64>().ok());
            match exponent {
                Some(decimal_exponent) => Ok(Suffix {
                    decimal_exponent,
                    binary_exponent: 0,
                    format: QuantityFormat::DecimalExponent,
                }),
                None => Err(QuantityErrorKind::UnknownSuffix {
                    suffix: suffix.to_owned(),
                }),
            }
        }
    }
}

/// `⌈digits × 10^scale × 2^binary_exponent⌉` as a magnitude, saturating at
/// `u128::MAX`. `digits` is a non-empty decimal string without leading zeros.
fn nanos_rounded_up(digits: &str, scale: i128, binary_exponent: u32) -> u128 {
    if digits.len() <= MAX_POW10_U128 as usize
        && let Ok(mantissa) = digits.parse::<u128>()
        && let Some(magnitude) = nanos_fast(mantissa, scale, binary_exponent)
    {
        return magnitude;
    }
    nanos_slow(digits, scale, binary_exponent)
}

/// The common case in `u128`; `None` when an intermediate product overflows
/// and the answer needs the slow path.
fn nanos_fast(mantissa: u128, scale: i128, binary_exponent: u32) -> Option<u128> {
    let shifted = mantissa.checked_mul(1_u128 << binary_exponent)?;
    if scale >= 0 {
        // Overflow here means the value is beyond every limit: saturate.
        let factor = u32::try_from(scale)
            .ok()
            .and_then(|scale| 10_u128.checked_pow(scale));
        return Some(
            factor
                .and_then(|factor| shifted.checked_mul(factor))
                .unwrap_or(u128::MAX),
        );
    }
    let divisor_digits = scale.unsigned_abs();
    if divisor_digits > u128::from(MAX_POW10_U128) {
        // shifted < 2¹²⁸ < 10³⁹ ≤ divisor: a positive value below one nano.
        return Some(1);
    }
    let divisor = 10_u128.pow(divisor_digits as u32);
    Some(shifted / divisor + u128::from(shifted % divisor != 0))
}

fn nanos_slow(digits: &str, scale: i128, binary_exponent: u32) -> u128 {
    let Some(mantissa) = BigUint::parse_bytes(digits.as_bytes(), 10) else {
        // Unreachable: the scanner only lets ASCII digits through.
        return 0;
    };
    let shifted = mantissa << binary_exponent;
    let value = if scale >= 0 {
        // Anything non-zero times 10^39 is past the limit anyway.
        if scale > i128::from(MAX_POW10_U128) + 1 {
            return u128::MAX;
        }
        shifted * BigUint::from(10_u32).pow(scale as u32)
    } else {
        let divisor_digits = scale.unsigned_abs();
        // 2^binary_exponent < 10^19, so a divisor longer than the mantissa by
        // more than that leaves a positive value below one nano.
        if divisor_digits > digits.len() as u128 + 20 {
            return 1;
        }
        let divisor = BigUint::from(10_u32).pow(divisor_digits as u32);
        let remainder = &shifted % &divisor;
        let quotient = shifted / divisor;
        if remainder.bits() == 0 {
            quotient
        } else {
            quotient + 1_u32
        }
    };
    u128::try_from(value).unwrap_or(u128::MAX)
}

fn f64_to_i128_saturating(value: f64) -> i128 {
    // `as` saturates on overflow and maps NaN to 0.
    value as i128
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Quantity {
        match Quantity::parse(text) {
            Ok(quantity) => quantity,
            Err(error) => panic!("{error}"),
        }
    }

    #[test]
    fn cpu_comes_out_as_cores_exact_to_the_nano() {
        assert_eq!(q("250m").as_cores(), 0.25);
        assert_eq!(q("1").as_cores(), 1.0);
        assert_eq!(q("123456789n").as_cores(), 0.123456789);
        assert_eq!(q("3.001n").nanos(), 4);
        assert_eq!(q("1.3E+6").as_cores(), 1_300_000.0);
        assert_eq!(q("5e-2").as_cores(), 0.05);
    }

    #[test]
    fn memory_comes_out_as_bytes_with_fractions_rounded_up() {
        assert_eq!(q("1.5Gi").as_bytes(), 1_610_612_736);
        assert_eq!(q("0.5Gi").as_bytes(), 536_870_912);
        assert_eq!(q("100.035Ki").as_bytes(), 102_436);
        assert_eq!(q("1.5").as_bytes(), 2);
        assert_eq!(q("-1.5").as_bytes(), -2);
        assert_eq!(q("128974848").as_bytes(), 128_974_848);
        assert_eq!(q("129e6").as_bytes(), 129_000_000);
        assert_eq!(q("123Mi").as_bytes(), 128_974_848);
    }

    #[test]
    fn troll_forms_parse() {
        assert_eq!(q("1."), q("1"));
        assert_eq!(q(".5"), q("500m"));
        assert_eq!(q("1.G"), q("1000M"));
        assert_eq!(q("+1"), q("1"));
    }

    #[test]
    fn binary_values_saturate_at_the_int64_maximum() {
        assert_eq!(q("9Ei").as_bytes(), i64::MAX);
        assert_eq!(q("-9Ei").as_bytes(), -i64::MAX);
        assert_eq!(q("8Ei").to_string(), "9223372036854775807");
        // Decimal values are not capped there, as in apimachinery.
        assert_eq!(q("12E").to_string(), "12E");
        assert_eq!(q("12E").as_bytes(), i64::MAX);
    }

    #[test]
    fn decimal_values_saturate_at_the_representable_maximum() {
        assert_eq!(q("1e100").nanos(), i128::MAX);
        assert_eq!(q("-1e100").nanos(), -i128::MAX);
        assert_eq!(q("1e-100").nanos(), 1);
        assert_eq!(q("1e9223372036854775807").nanos(), i128::MAX);
        assert_eq!(q("1e-9223372036854775808").nanos(), 1);
    }

    #[test]
    fn long_mantissas_are_exact() {
        let long = format!("1.{}1", "0".repeat(60));
        assert_eq!(q(&long).nanos(), 1_000_000_001);
        let long_binary = format!("0.{}1Ki", "0".repeat(45));
        assert_eq!(q(&long_binary).nanos(), 1);
        let wide = format!("{}Ki", "9".repeat(25));
        assert_eq!(q(&wide).as_bytes(), i64::MAX);
        let exact = format!("1{}.5", "0".repeat(19));
        assert_eq!(q(&exact).to_string(), format!("1{}500m", "0".repeat(19)));
    }

    #[test]
    fn malformed_input_is_a_typed_error_naming_the_input() {
        let cases = [
            ("", QuantityErrorKind::Empty),
            ("e3", QuantityErrorKind::NoDigits),
            (".", QuantityErrorKind::NoDigits),
            ("Ki", QuantityErrorKind::NoDigits),
            (
                "1.5.5",
                QuantityErrorKind::UnexpectedCharacter {
                    position: 3,
                    character: '.',
                },
            ),
            (
                "1Qi",
                QuantityErrorKind::UnexpectedCharacter {
                    position: 1,
                    character: 'Q',
                },
            ),
            (
                " 1",
                QuantityErrorKind::UnexpectedCharacter {
                    position: 0,
                    character: ' ',
                },
            ),
            (
                "1 ",
                QuantityErrorKind::UnexpectedCharacter {
                    position: 1,
                    character: ' ',
                },
            ),
            (
                "--1",
                QuantityErrorKind::UnknownSuffix {
                    suffix: "-1".into(),
                },
            ),
            (
                "1i",
                QuantityErrorKind::UnknownSuffix { suffix: "i".into() },
            ),
            (
                "1e",
                QuantityErrorKind::UnknownSuffix { suffix: "e".into() },
            ),
            (
                "1e99999999999999999999",
                QuantityErrorKind::UnknownSuffix {
                    suffix: "e99999999999999999999".into(),
                },
            ),
            (
                "2µ",
                QuantityErrorKind::UnexpectedCharacter {
                    position: 1,
                    character: 'µ',
                },
            ),
        ];
        for (input, kind) in cases {
            let error = Quantity::parse(input).expect_err(input);
            assert_eq!(error.kind, kind, "{input:?}");
            assert_eq!(error.input, input);
            let message = error.to_string();
            assert!(message.contains(&format!("{input:?}")), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn canonical_form_keeps_the_suffix_family() {
        assert_eq!(q("1.5").to_string(), "1500m");
        assert_eq!(q("1.5Gi").to_string(), "1536Mi");
        assert_eq!(q("1000M").to_string(), "1G");
        assert_eq!(q("1.2e3").to_string(), "1200");
        assert_eq!(q("12e3").to_string(), "12e3");
        assert_eq!(q("1000E").to_string(), "1000E");
        assert_eq!(q("-0").to_string(), "0");
        assert_eq!(Quantity::from_bytes(128 << 20).to_string(), "128Mi");
        assert_eq!(Quantity::from_cores(0.0005).to_string(), "500u");
    }

    #[test]
    fn quantities_compare_by_value_across_formats() {
        assert_eq!(q("1Gi"), q("1073741824"));
        assert!(q("1Gi") > q("1G"));
        assert_eq!(q("1k").saturating_add(q("24")), q("1024"));
    }

    #[test]
    fn serde_round_trips_through_the_canonical_string() -> Result<(), serde_json::Error> {
        let quantity: Quantity = serde_json::from_str("\"1.5Gi\"")?;
        assert_eq!(serde_json::to_string(&quantity)?, "\"1536Mi\"");
        let error = serde_json::from_str::<Quantity>("\"1.5.5\"").expect_err("bad input");
        assert!(error.to_string().contains("1.5.5"));
        Ok(())
    }

    #[test]
    fn serde_reads_escaped_text_and_refuses_what_is_not_text() -> Result<(), serde_json::Error> {
        // An escape makes serde_json unescape into its scratch buffer: the
        // borrowed and the unescaped paths must read alike.
        let escaped: Quantity = serde_json::from_str(r#""\u00312Gi""#)?;
        assert_eq!(escaped, q("12Gi"));
        let error = serde_json::from_str::<Quantity>("12").expect_err("a number");
        assert!(error.to_string().contains("quantity string"), "{error}");
        Ok(())
    }
}
