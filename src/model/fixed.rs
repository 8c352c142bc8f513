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
        // Through the shortest decimal that round-trips the float, so 0.1
        // becomes 0.1 and not 0.1000000000000000055…; written into a stack
        // buffer, as an export converts hundreds of millions of values.
        use std::io::Write as _;
        let mut buffer = [0_u8; 64];
        let mut cursor = std::io::Cursor::new(&mut buffer[..]);
        write!(cursor, "{value:e}").ok()?;
        let written = usize::try_from(cursor.position()).ok()?;
        let text = std::str::from_utf8(buffer.get(..written)?).ok()?;
        let (mantissa, exponent) = text.split_once('e')?;
        let exponent: i32 = exponent.parse().ok()?;
        let negative = mantissa.starts_with('-');
        let (mut digits, mut fraction_digits, mut in_fraction) = (0_i128, 0_usize, false);
        for byte in mantissa.bytes() {
            match byte {
                b'0'..=b'9' => {
                    digits = digits
                        .checked_mul(10)?
                        .checked_add(i128::from(byte - b'0'))?;
                    fraction_digits += usize::from(in_fraction);
                }
                b'.' => in_fraction = true,
                _ => {}
            }
        }
        // value = digits × 10^(exponent − fraction_digits); in units, × 10^SCALE.
        let shift = exponent - i32::try_from(fraction_digits).ok()? + SCALE as i32;
        let units = if shift >= 0 {
            digits.checked_mul(10_i128.checked_pow(shift.unsigned_abs())?)?
        } else {
            let divisor = 10_i128
                .checked_pow(shift.unsigned_abs())
                .unwrap_or(i128::MAX);
            let (quotient, remainder) = (digits / divisor, digits % divisor);
            quotient + i128::from(remainder * 2 >= divisor)
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

/// Plain decimal notation without trailing zeros: `0.125`, `-3`, `0`.
impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let magnitude = self.0.unsigned_abs();
        let whole = magnitude / ONE as u128;
        let fraction = magnitude % ONE as u128;
        if fraction == 0 {
            return write!(f, "{sign}{whole}");
        }
        // On the stack and in u64 (a fraction is below 10^12): an export
        // writes several of these for each of ~80 M rows.
        let mut digits = [b'0'; SCALE as usize];
        let mut rest = u64::try_from(fraction).unwrap_or_default();
        for digit in digits.iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        let end = digits.iter().rposition(|d| *d != b'0').map_or(0, |i| i + 1);
        let digits = std::str::from_utf8(&digits[..end]).unwrap_or_default();
        match u64::try_from(whole) {
            Ok(whole) => write!(f, "{sign}{whole}.{digits}"),
            Err(_) => write!(f, "{sign}{whole}.{digits}"),
        }
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
