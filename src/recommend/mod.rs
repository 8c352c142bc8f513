//! Recommendations: how to spend less (issue #7).
//!
//! So far: the VPA recommender's arithmetic ported exactly ([`vpa`]), the
//! three right-sizing strategies on a usage series ([`strategy`]), real
//! traces read as series ([`trace`]) and the backtest that scores the
//! strategies on them ([`backtest`], `kubetally recommend backtest`), and
//! the spot eligibility checks S1–S11 plus kubetally's two ([`spot`]), and
//! node pools priced on the other machine families at effective prices
//! ([`family`]). Reading the dataset's hourly histograms, workload and pool
//! facts into them, and `kubetally recommend` itself, come next.

pub mod advice;
pub mod backtest;
pub mod columns;
pub mod family;
pub mod history;
pub mod observed;
pub mod patch;
pub mod plan;
pub mod rightsize;
pub mod samples;
pub mod spot;
pub mod strategy;
pub mod trace;
pub mod vpa;
