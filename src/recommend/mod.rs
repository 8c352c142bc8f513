//! Recommendations: how to spend less (issue #7). So far the VPA
//! recommender's arithmetic, ported exactly ([`vpa`]); reading the dataset's
//! hourly histograms into it, `krr-simple`, kubetally's own strategy, spot
//! and machine-family checks and `kubetally recommend` come next.

pub mod vpa;
