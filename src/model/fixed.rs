//! Exact decimal amounts for exports whose rows must add up to the cent and
//! beyond: a signed count of 10⁻¹² units in an `i128`.
//!
//! The dataset holds dollars and quantities as `f64`, which cannot add up a
//! split charge's rows to exactly its origin. A FOCUS split is converted once
//! to these fixed-point values (rounded to 12 decimals, finer than any price
//! in a catalog), and from then on sums are integer sums: what one row is
//! given, another is not. Twelve decimals fit Parquet's `DECIMAL(38, 12)` and
//! read back exactly in every engine.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};

/// Decimal places kept.
pub const SCALE: u32 = 12;

const ONE: i128 = 10_i128.pow(SCALE);

/// A decimal number with [`SCALE`] places: `Fixed::from_units(1)` is 10⁻¹².
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fixed(i128);

impl Fixed {
    pub const ZERO: Fixed = Fixed(0);
    pub const ONE: Fixed = Fixed(ONE);

    /// The value `units × 10⁻¹²`.
    pub const fn from_units(units: i128) -> Fixed {
        Fixed(units)
    }

    /// Its count of 10⁻¹² units (the unscaled value of a `DECIMAL(38, 12)`).
    pub const fn units(self) -> i128 {
        self.0
    }

    /// `value` rounded to the nearest 10⁻¹² (half away from zero); `None`
    /// for NaN, an infinity, or a magnitude beyond 10²⁴.
    pub fn from_f64(value: f64) -> Option<Fixed> {
        if !value.is_finite() || value.abs() >= 1e24 {
            return None;
        }
        Fixed::scaled(value).or_else(|| Fixed::through_shortest(value))
    }

    /// The units of `value` straight from the float product `value × 10¹²`,
    /// where that is provably the same as rounding its shortest decimal
    /// (an export converts hundreds of millions of amounts; this is ~10×
    /// cheaper than printing each one).
    ///
    /// Why it is exact: the shortest decimal `d` lies within half a unit in
    /// the last place of `value`, and the product `x` within half of its
    /// own, so `|x − d × 10¹²| ≤ |x| × 2⁻⁵²`. Rounding `x` rounds
    /// `d × 10¹²` the same way unless a half lies within that distance of
    /// `x`, which is refused here with twice the margin (and `None` sends
    /// the value through its shortest decimal). When `d` has at most 12
    /// places `d × 10¹²` is a whole number within that distance, so `x` is
    /// far from a half and rounds to it.
    fn scaled(value: f64) -> Option<Fixed> {
        const UNITS: f64 = 1e12;
        // Below 2^52 the float's integer and fractional parts are exact.
        const EXACT: f64 = 4_503_599_627_370_496.0;
        let x = value * UNITS;
        if x.abs() >= EXACT {
            return None;
        }
        let margin = x.abs() * (2.0 * f64::EPSILON) + f64::MIN_POSITIVE;
        let fraction = (x - x.trunc()).abs();
        if (fraction - 0.5).abs() <= margin {
            return None;
        }
        // |x.round()| < 2^52: the cast is exact.
        Some(Fixed(x.round() as i128))
    }

    /// `value` (finite, below 10²⁴) rounded through its shortest decimal.
    fn through_shortest(value: f64) -> Option<Fixed> {
        // Through the shortest decimal that round-trips the float, so 0.1
        // becomes 0.1 and not 0.1000000000000000055…; ryu writes it into a
        // stack buffer (`1.5`, `1e-7`, `1.2345e20`), and its ≤ 17 digits
        // fit a u64, as an export converts hundreds of millions of values.
        let mut buffer = ryu::Buffer::new();
        let text = buffer.format_finite(value);
        let (mantissa, exponent) = match text.split_once('e') {
            Some((mantissa, exponent)) => (mantissa, exponent.parse::<i32>().ok()?),
            None => (text, 0),
        };
        let negative = mantissa.starts_with('-');
        let (mut digits, mut fraction_digits, mut in_fraction) = (0_u64, 0_i32, false);
        for byte in mantissa.bytes() {
            match byte {
                b'0'..=b'9' => {
                    digits = digits
                        .checked_mul(10)?
                        .checked_add(u64::from(byte - b'0'))?;
                    fraction_digits += i32::from(in_fraction);
                }
                b'.' => in_fraction = true,
                _ => {}
            }
        }
        // value = digits × 10^(exponent − fraction_digits); in units, × 10^SCALE.
        let shift = exponent - fraction_digits + SCALE as i32;
        let units = if shift >= 0 {
            i128::from(digits).checked_mul(10_i128.checked_pow(shift.unsigned_abs())?)?
        } else if shift > -20 {
            let divisor = 10_u64.pow(shift.unsigned_abs());
            let (quotient, remainder) = (digits / divisor, digits % divisor);
            i128::from(quotient) + i128::from(remainder >= divisor - remainder)
        } else {
            // Below 10^-19 units: 0, or 1 where it rounds up (never, as
            // digits < 10^17 < half of 10^20).
            0
        };
        Some(Fixed(if negative { -units } else { units }))
    }

    /// `self × numerator ÷ denominator`, rounded half away from zero; `None`
    /// when `denominator` is zero or the product overflows.
    pub fn mul_div(self, numerator: Fixed, denominator: Fixed) -> Option<Fixed> {
        if denominator.0 == 0 {
            return None;
        }
        let product = self.0.checked_mul(numerator.0)?;
        let (quotient, remainder) = (product / denominator.0, product % denominator.0);
        let round_away = remainder.unsigned_abs() * 2 >= denominator.0.unsigned_abs();
        let step = if (product < 0) == (denominator.0 < 0) {
            1
        } else {
            -1
        };
        Some(Fixed(quotient + if round_away { step } else { 0 }))
    }

    /// `self ÷ whole`, as a ratio with [`SCALE`] places (`None` for zero).
    pub fn ratio_of(self, whole: Fixed) -> Option<Fixed> {
        self.mul_div(Fixed::ONE, whole)
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// As a float, for sums and checks that need no exactness.
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / ONE as f64
    }
}

impl Add for Fixed {
    type Output = Fixed;
    fn add(self, other: Fixed) -> Fixed {
        Fixed(self.0 + other.0)
    }
}

impl Sub for Fixed {
    type Output = Fixed;
    fn sub(self, other: Fixed) -> Fixed {
        Fixed(self.0 - other.0)
    }
}

impl AddAssign for Fixed {
    fn add_assign(&mut self, other: Fixed) {
        self.0 += other.0;
    }
}

impl SubAssign for Fixed {
    fn sub_assign(&mut self, other: Fixed) {
        self.0 -= other.0;
    }
}

impl std::iter::Sum for Fixed {
    fn sum<I: Iterator<Item = Fixed>>(iter: I) -> Fixed {
        iter.fold(Fixed::ZERO, Add::add)
    }
}

impl Fixed {
    /// Appends plain decimal notation without trailing zeros (`0.125`,
    /// `-3`, `0`) to `out`, without the formatting machinery: an export
    /// writes four of these into each row's AllocatedMethodDetails.
    pub fn push_to(self, out: &mut String) {
        if self.0 < 0 {
            out.push('-');
        }
        let magnitude = self.0.unsigned_abs();
        // Every amount an export writes fits a u64, whose division is a
        // fraction of the cost of a u128's.
        let (whole, fraction) = match u64::try_from(magnitude) {
            Ok(magnitude) => (u128::from(magnitude / ONE as u64), magnitude % ONE as u64),
            Err(_) => (
                magnitude / ONE as u128,
                u64::try_from(magnitude % ONE as u128).unwrap_or_default(),
            ),
        };
        match u64::try_from(whole) {
            Ok(whole) => push_digits(out, whole),
            Err(_) => out.push_str(&whole.to_string()),
        }
        if fraction == 0 {
            return;
        }
        let mut digits = [b'0'; SCALE as usize];
        let mut rest = fraction;
        for digit in digits.iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        let end = digits.iter().rposition(|d| *d != b'0').map_or(0, |i| i + 1);
        out.push('.');
        out.push_str(std::str::from_utf8(&digits[..end]).unwrap_or_default());
    }
}

/// `value`'s decimal digits.
fn push_digits(out: &mut String, mut value: u64) {
    let mut digits = [0_u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
}

/// Plain decimal notation without trailing zeros: `0.125`, `-3`, `0`.
impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::with_capacity(48);
        self.push_to(&mut text);
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(value: f64) -> Fixed {
        Fixed::from_f64(value).unwrap()
    }

    #[test]
    fn a_float_becomes_its_shortest_decimal() {
        assert_eq!(f(0.1).to_string(), "0.1");
        assert_eq!(f(0.26804568).to_string(), "0.26804568");
        assert_eq!(f(-2.5).to_string(), "-2.5");
        assert_eq!(f(3600.0).to_string(), "3600");
        assert_eq!(f(0.0).to_string(), "0");
    }

    #[test]
    fn digits_past_the_twelfth_round_half_away_from_zero() {
        assert_eq!(f(2.2636446666666668e-05).to_string(), "0.000022636447");
        assert_eq!(f(1.5e-12).units(), 2);
        assert_eq!(f(-1.5e-12).units(), -2);
        assert_eq!(f(4e-13).units(), 0);
        assert_eq!(f(f64::MIN_POSITIVE).units(), 0);
        assert_eq!(f(-9.5e23).to_string(), "-950000000000000000000000");
    }

    /// The conversion as it was first written, through std's `{:e}` and
    /// i128 arithmetic: the oracle the fast path must agree with.
    fn through_std(value: f64) -> Option<i128> {
        let text = format!("{value:e}");
        let (mantissa, exponent) = text.split_once('e')?;
        let exponent: i32 = exponent.parse().ok()?;
        let negative = mantissa.starts_with('-');
        let fraction = mantissa.split_once('.').map_or(0, |(_, f)| f.len());
        let digits: i128 = mantissa.replace(['-', '.'], "").parse().ok()?;
        let shift = exponent - i32::try_from(fraction).ok()? + SCALE as i32;
        let units = if shift >= 0 {
            digits * 10_i128.pow(shift.unsigned_abs())
        } else {
            let divisor = 10_i128
                .checked_pow(shift.unsigned_abs())
                .unwrap_or(i128::MAX);
            digits / divisor + i128::from((digits % divisor) * 2 >= divisor)
        };
        Some(if negative { -units } else { units })
    }

    proptest::proptest! {
        /// A decimal of up to 15 significant digits (every amount and
        /// quantity kubetally writes) has one shortest form: ryu's and
        /// std's are the same, and so are the units.
        #[test]
        fn the_fast_conversion_agrees_with_std_formatting(
            mantissa in -999_999_999_999_999_i64..999_999_999_999_999,
            exponent in -27i32..9,
        ) {
            let value: f64 = format!("{mantissa}e{exponent}").parse().unwrap_or_default();
            proptest::prop_assert_eq!(Fixed::from_f64(value).map(Fixed::units), through_std(value));
        }

        /// Any other float is its shortest decimal, which std and ryu may
        /// end differently where two are equally short and close (ryu
        /// rounds such a tie to even): never by more than the float's own
        /// spacing.
        #[test]
        fn any_float_converts_within_its_own_precision(
            mantissa in -1.0e6f64..1.0e6,
            exponent in -20i32..18,
        ) {
            let value = mantissa * 10f64.powi(exponent);
            let ours = Fixed::from_f64(value).map(Fixed::units);
            let theirs = through_std(value);
            let spacing = (value.abs() * f64::EPSILON * 1e12).ceil() as i128 + 1;
            match (ours, theirs) {
                (Some(ours), Some(theirs)) => proptest::prop_assert!(
                    (ours - theirs).abs() <= spacing,
                    "{value:e}: {ours} against {theirs}"
                ),
                (ours, theirs) => proptest::prop_assert_eq!(ours, theirs),
            }
        }

        /// The product's shortcut never differs from rounding the shortest
        /// decimal, over amounts of every size and near every half.
        #[test]
        fn the_scaled_product_rounds_as_the_shortest_decimal_does(
            mantissa in -1.0e6f64..1.0e6,
            exponent in -20i32..12,
        ) {
            let value = mantissa * 10f64.powi(exponent);
            if let Some(fast) = Fixed::scaled(value) {
                proptest::prop_assert_eq!(Some(fast), Fixed::through_shortest(value), "{:e}", value);
            }
        }

        /// Values with a half unit past the twelfth place, and their
        /// neighbouring floats: the shortcut refuses or agrees.
        #[test]
        fn halves_past_the_twelfth_place_round_as_the_shortest_decimal(
            units in -10_000_000_000_000_i64..10_000_000_000_000,
            step in -3i64..=3,
        ) {
            let half: f64 = format!("{units}.5e-12").parse().unwrap_or_default();
            let value = f64::from_bits((half.to_bits() as i64 + step) as u64);
            if let Some(fast) = Fixed::scaled(value) {
                proptest::prop_assert_eq!(Some(fast), Fixed::through_shortest(value), "{:e}", value);
            }
            proptest::prop_assert_eq!(Fixed::from_f64(value), Fixed::through_shortest(value));
        }

        #[test]
        fn plain_notation_reads_back_as_the_same_units(units in proptest::num::i128::ANY) {
            let value = Fixed(units / 1_000_000);
            let text = value.to_string();
            let mut pushed = String::from("x");
            value.push_to(&mut pushed);
            proptest::prop_assert_eq!(&pushed[1..], text.as_str());
            let (whole, fraction) = text.trim_start_matches('-').split_once('.').unwrap_or((text.trim_start_matches('-'), ""));
            let back = whole.parse::<i128>().unwrap_or(-1) * ONE + format!("{fraction:0<12}").parse::<i128>().unwrap_or(-1);
            proptest::prop_assert_eq!(if units < 0 && value.0 != 0 { -back } else { back }, value.0);
        }
    }

    #[test]
    fn nothing_that_is_not_a_number_converts() {
        assert_eq!(Fixed::from_f64(f64::NAN), None);
        assert_eq!(Fixed::from_f64(f64::INFINITY), None);
        assert_eq!(Fixed::from_f64(1e30), None);
    }

    #[test]
    fn a_ratio_rounds_and_refuses_a_zero_whole() {
        assert_eq!(
            f(1.0).ratio_of(f(3.0)).unwrap().to_string(),
            "0.333333333333"
        );
        assert_eq!(
            f(2.0).ratio_of(f(3.0)).unwrap().to_string(),
            "0.666666666667"
        );
        assert_eq!(f(1.0).ratio_of(Fixed::ZERO), None);
    }
}
