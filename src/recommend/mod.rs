//! Recommendations: how to spend less (issue #7).
//!
//! [`plan`] is one `kubetally recommend` run: [`history`] folds the
//! dataset's hourly `allocation` histograms into per-container state,
//! [`observed`] adds the window's run and startup times, and from them come
//! right-sizing ([`rightsize`], every rule of the [`strategy`]s, with the
//! VPA recommender ported in [`vpa`]), spot eligibility ([`spot`], through
//! [`advice`]) and machine families ([`family`]). [`patch`] writes the
//! right-sizing as `kubectl patch`/kustomize patches. [`backtest`] scores
//! the strategies on real traces ([`trace`]) or a dataset's own raw samples
//! ([`samples`]), replayed into the dataset's hourly rows ([`replay`]) and
//! sized by the same [`rightsize::one`].

pub mod advice;
pub mod backtest;
pub mod family;
pub mod history;
pub mod observed;
pub mod patch;
pub mod plan;
pub mod replay;
pub mod rightsize;
pub mod samples;
pub mod spot;
pub mod strategy;
pub mod trace;
pub mod vpa;
