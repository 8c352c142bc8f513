//! Splitting an origin charge's summable metrics over its consumers so they
//! add up exactly: FOCUS 1.3's rule that the allocated charges' costs and
//! quantities sum to the origin charge's.
//!
//! Each consumer's share is rounded once (to [`Fixed`]'s 12 places) and the
//! unallocated remainder is what is left: origin − Σ shares, an integer
//! subtraction, so rounding never creates or loses a unit. Should the shares
//! exceed the origin (the dataset's floats sum a full node to a hair over
//! its cost), the excess is taken back from the largest shares, so no
//! remainder is negative.

use crate::model::fixed::Fixed;

/// The metrics of one split, by index: each consumer's values and the
/// remainder's, with `Σ consumers[i][m] + remainder[m] = origin[m]` for
/// every metric `m`.
#[derive(Debug, Clone, PartialEq)]
pub struct Split<const N: usize> {
    pub consumers: Vec<[Fixed; N]>,
    pub remainder: [Fixed; N],
}

/// Splits `origin`'s metrics over `consumers`'.
pub fn split<const N: usize>(origin: &[Fixed; N], mut consumers: Vec<[Fixed; N]>) -> Split<N> {
    let mut remainder = *origin;
    for (m, left) in remainder.iter_mut().enumerate() {
        let taken: Fixed = consumers.iter().map(|c| c[m]).sum();
        *left -= taken;
        if left.is_negative() {
            take_back(&mut consumers, m, Fixed::ZERO - *left);
            *left = Fixed::ZERO;
        }
    }
    Split {
        consumers,
        remainder,
    }
}

/// Removes `excess` of metric `m` from the largest consumers first.
fn take_back<const N: usize>(consumers: &mut [[Fixed; N]], m: usize, mut excess: Fixed) {
    let mut order: Vec<usize> = (0..consumers.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(consumers[i][m]));
    for i in order {
        if excess.is_zero() {
            break;
        }
        let Some(value) = consumers[i].get_mut(m) else {
            continue;
        };
        let give = if *value < excess { *value } else { excess };
        if give.is_negative() {
            continue;
        }
        *value -= give;
        excess -= give;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn f(value: f64) -> Fixed {
        Fixed::from_f64(value).unwrap_or_default()
    }

    #[test]
    fn the_remainder_is_what_the_consumers_leave() {
        let s = split(&[f(1.0), f(0.3)], vec![[f(0.25), f(0.1)], [f(0.5), f(0.1)]]);
        assert_eq!(s.remainder, [f(0.25), f(0.1)]);
    }

    #[test]
    fn consumers_over_the_origin_give_back_the_excess_from_the_largest() {
        let s = split(&[f(1.0)], vec![[f(0.4)], [f(0.600000000002)]]);
        assert_eq!(s.remainder, [Fixed::ZERO]);
        assert_eq!(s.consumers, vec![[f(0.4)], [f(0.6)]]);
    }

    proptest! {
        #[test]
        fn every_metric_adds_up_to_the_origin_exactly(
            origin in 0.0f64..1000.0,
            shares in proptest::collection::vec(0.0f64..1.0, 0..40),
        ) {
            let total: f64 = shares.iter().sum::<f64>().max(1.0);
            let consumers: Vec<[Fixed; 1]> = shares
                .iter()
                .map(|s| [f(origin * s / total)])
                .collect();
            let s = split(&[f(origin)], consumers);
            let sum: Fixed = s.consumers.iter().map(|c| c[0]).sum::<Fixed>() + s.remainder[0];
            prop_assert_eq!(sum, f(origin));
            prop_assert!(!s.remainder[0].is_negative());
            prop_assert!(s.consumers.iter().all(|c| !c[0].is_negative()));
        }
    }
}
