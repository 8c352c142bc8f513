//! The collector's HTTP endpoints: `/metrics` (Prometheus text format,
//! OpenCost-compatible series plus kubetally's own), `/healthz` (liveness)
//! and `/readyz` (readiness).
//!
//! The endpoints only read what the collector already shares — the watch
//! cache, the newest tick's samples and the counters — and compute every
//! series at scrape time, so serving adds no state to keep in step with the
//! collector. Readiness is decided by real time, not sample time, because
//! sample time comes from the metrics API and may be simulated (see
//! [`ready`]).
//!
//! ```no_run
//! # async fn start(collector: &kubetally::collect::Collector,
//! #     prices: std::sync::Arc<kubetally::pricing::PriceBook>)
//! #     -> Result<(), kubetally::serve::ServeError> {
//! use kubetally::serve::{ServeState, bind, serve};
//!
//! let state = ServeState::new(collector, prices, "prod", std::time::Duration::from_secs(60));
//! // Bind first: a taken port fails the start, not a background task.
//! let listener = bind(([0, 0, 0, 0], 9090).into()).await?;
//! tokio::spawn(serve(listener, state, std::future::pending()));
//! # Ok(()) }
//! ```

pub mod metrics;
pub mod ready;
pub mod text;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::allocate::Sample;
use crate::cluster::{Collection, SharedInventory, lock};
use crate::collect::{Collector, Stats};
use crate::pricing::PriceBook;

pub use ready::{NotReady, SampleProgress};

/// What the endpoints read: the collector's shared pieces, the prices and
/// the readiness settings. Cloning is cheap (shared pointers).
#[derive(Clone)]
pub struct ServeState {
    pub inventory: SharedInventory,
    pub stats: Arc<Stats>,
    /// The newest tick's samples.
    pub latest: Arc<Mutex<Vec<Sample>>>,
    pub prices: Arc<PriceBook>,
    /// The `cluster` label of `kubetally_info`.
    pub cluster: String,
    /// How long the newest sample time may stay unchanged, in real time,
    /// before `/readyz` fails; [`ready::silence_limit`] of the interval by
    /// default (three intervals and 30 s).
    pub sample_silence_limit: Duration,
    pub progress: Arc<SampleProgress>,
}

impl ServeState {
    /// The state for serving `collector`, which polls metrics every `interval`.
    pub fn new(
        collector: &Collector,
        prices: Arc<PriceBook>,
        cluster: impl Into<String>,
        interval: Duration,
    ) -> ServeState {
        ServeState {
            inventory: collector.inventory.clone(),
            stats: collector.stats.clone(),
            latest: collector.latest.clone(),
            prices,
            cluster: cluster.into(),
            sample_silence_limit: ready::silence_limit(interval),
            progress: Arc::new(SampleProgress::new(Instant::now())),
        }
    }

    /// Renders `/metrics`.
    pub fn metrics_text(&self) -> String {
        self.observe_progress();
        metrics::render(&metrics::Sources {
            inventory: &self.inventory,
            stats: &self.stats,
            latest: &self.latest,
            prices: &self.prices,
            cluster: &self.cluster,
        })
    }

    /// Whether the collector is ready, and if not, why.
    ///
    /// # Errors
    ///
    /// [`NotReady`] when a watch cache has not synced, a write (the
    /// write-ahead log, the dataset) is failing, or no new sample arrived
    /// within [`ServeState::sample_silence_limit`].
    pub fn readiness(&self) -> Result<(), NotReady> {
        let unsynced: Vec<&'static str> = {
            let inventory = lock(&self.inventory);
            Collection::ALL
                .iter()
                .filter(|c| !inventory.synced(**c))
                .map(|c| c.as_str())
                .collect()
        };
        let write_failing = self.stats.writes.failing();
        // A follower keeps its caches warm and takes no samples: synced is ready.
        if Stats::get(&self.stats.leader_election) == 1 && Stats::get(&self.stats.leader) == 0 {
            let newest = Stats::get(&self.stats.last_sample_seconds);
            self.progress.restart(newest, Instant::now());
            let observed = ready::Observed {
                unsynced,
                have_sample: false,
                silent: Duration::ZERO,
                write_failing,
            };
            return ready::check(observed, self.sample_silence_limit);
        }
        let (have_sample, silent) = self.observe_progress();
        let observed = ready::Observed {
            unsynced,
            have_sample,
            silent,
            write_failing,
        };
        ready::check(observed, self.sample_silence_limit)
    }

    fn observe_progress(&self) -> (bool, Duration) {
        let newest = Stats::get(&self.stats.last_sample_seconds);
        (
            newest != 0,
            self.progress.silent_for(newest, Instant::now()),
        )
    }
}

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("binding the HTTP endpoints (/metrics, /healthz, /readyz) to {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        cause: std::io::Error,
    },
    #[error("serving HTTP on {addr}")]
    Serve {
        addr: String,
        #[source]
        cause: std::io::Error,
    },
}

/// The routes: `GET /metrics`, `GET /healthz`, `GET /readyz` (and `HEAD`).
pub fn router(state: ServeState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// Binds `addr` (port 0 picks a free port; see `local_addr`).
///
/// # Errors
///
/// [`ServeError::Bind`] naming the address (in use, not local, not permitted).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|cause| ServeError::Bind { addr, cause })
}

/// Serves the endpoints on `listener` until `shutdown` resolves; open
/// requests then finish.
///
/// # Errors
///
/// [`ServeError::Serve`] if accepting connections fails for good.
pub async fn serve(
    listener: TcpListener,
    state: ServeState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = listener
        .local_addr()
        .map_or_else(|_| "an unknown address".to_owned(), |a| a.to_string());
    info!(%addr, "Serving /metrics, /healthz and /readyz.");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|cause| ServeError::Serve { addr, cause })
}

async fn metrics_handler(State(state): State<ServeState>) -> Response {
    // Rendering 100,000 containers takes a while: keep it off the runtime's workers.
    match tokio::task::spawn_blocking(move || state.metrics_text()).await {
        Ok(body) => ([(header::CONTENT_TYPE, text::CONTENT_TYPE)], body).into_response(),
        Err(error) => {
            warn!(error = %error, "Rendering /metrics failed.");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering metrics failed\n",
            )
                .into_response()
        }
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<ServeState>) -> Response {
    match state.readiness() {
        Ok(()) => "ok\n".into_response(),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response(),
    }
}
