//! The right-sizing strategies by name. Their rules are in one place,
//! [`super::rightsize`], for `kubetally recommend` and the backtest alike.

/// Which rule sizes a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Strategy {
    /// kubetally's own rule (docs/recommendations.md).
    Kubetally,
    /// The Kubernetes VPA recommender's target (`super::vpa`).
    Vpa,
    /// Robusta KRR's default `simple` strategy.
    #[value(name = "krr-simple")]
    KrrSimple,
}

impl Strategy {
    pub const ALL: [Strategy; 3] = [Strategy::Kubetally, Strategy::Vpa, Strategy::KrrSimple];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Kubetally => "kubetally",
            Strategy::Vpa => "vpa",
            Strategy::KrrSimple => "krr-simple",
        }
    }
}
