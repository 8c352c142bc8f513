//! A simulated cluster behind a faithful Kubernetes API server (`kubetally sim`).
//!
//! There is no real API server or container engine on our machines, so the
//! collector, the demo and every benchmark run against this one. It speaks the
//! real HTTP API (discovery, list with selectors and pagination, watch with
//! bookmarks and 410 Expired, writes with optimistic concurrency, Status
//! errors, metrics.k8s.io) well enough that the real kube client and the real
//! kubectl cannot tell the difference for what kubetally uses.
//!
//! Time is simulated: the cluster's clock runs `speed` times real time from a
//! fixed epoch, and usage is a pure function of seed and simulated time, so a
//! seed reproduces a cluster and its week exactly.

pub mod audit;
mod autopilot;
pub mod bill;
mod cluster;
pub mod etcd;
mod faults;
mod gpu;
mod life;
mod metrics;
mod objects;
pub mod resources;
pub mod scenario;
mod scheduler;
pub mod selector;
mod server;
mod services;
mod storage;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

pub use cluster::{ClusterModel, ClusterSpec, SizeError, epoch};
use etcd::{Etcd, EtcdError};
pub use faults::{
    ErrorFault, FaultCode, FaultCounts, FaultProblem, FaultSpec, FaultSpecError, Faults, Outage,
    Rate, SlowFault,
};
pub use metrics::SimClock;

/// How to run the simulated cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub cluster: ClusterSpec,
    /// Simulated seconds per real second.
    pub speed: f64,
    /// Events kept for watches; older resource versions get 410 Expired.
    pub event_log: usize,
    /// Faults the server injects (`--faults`); none by default.
    pub faults: FaultSpec,
    /// A hand-written cluster served instead of the generated one.
    pub scenario: Option<scenario::Scenario>,
    /// The fast clock: when set, simulated time stands still except that
    /// each PodMetrics list moves it this much forward first (and applies
    /// what happened meanwhile), so the cluster runs as fast as its one
    /// collector samples; `speed` is then ignored.
    pub step: Option<chrono::Duration>,
}

impl Default for SimConfig {
    /// The default cluster at real-time speed, with 100,000 events of watch history.
    fn default() -> SimConfig {
        SimConfig {
            cluster: ClusterSpec::default(),
            speed: 1.0,
            event_log: 100_000,
            faults: FaultSpec::default(),
            scenario: None,
            step: None,
        }
    }
}

/// The simulated cluster's state, shared by every request.
pub struct Sim {
    pub store: Etcd,
    pub model: RwLock<ClusterModel>,
    pub clock: SimClock,
    pub seed: u64,
    /// The faults in force and what they injected ([`Sim::set_faults`], [`Sim::fault_counts`]).
    pub faults: Faults,
    /// Every kind of request served ([`audit::Audit::calls`]).
    pub audit: audit::Audit,
    /// The fast clock's step ([`SimConfig::step`]).
    step: Option<chrono::Duration>,
    /// How far each open watch has handed its events to the connection.
    deliveries: Arc<server::Deliveries>,
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("generating the simulated cluster")]
    Generate(#[source] EtcdError),
    #[error("listening on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        cause: std::io::Error,
    },
}

impl Sim {
    /// Generates the cluster described by `config`.
    ///
    /// # Errors
    ///
    /// [`SimError::Generate`] if the generator produces an object the store refuses.
    pub fn new(config: &SimConfig) -> Result<Sim, SimError> {
        let store = Etcd::new(config.event_log);
        let model = match &config.scenario {
            Some(scenario) => scenario::generate(scenario, &store, config.cluster.seed),
            None => cluster::generate(&config.cluster, &store),
        }
        .map_err(SimError::Generate)?;
        Ok(Sim {
            store,
            model: RwLock::new(model),
            clock: SimClock::new(
                epoch(),
                if config.step.is_some() {
                    0.0
                } else {
                    config.speed
                },
            ),
            seed: config.cluster.seed,
            faults: Faults::new(config.faults, config.cluster.seed),
            audit: audit::Audit::default(),
            step: config.step,
            deliveries: Arc::default(),
        })
    }

    /// The fast clock's tick: moves the clock one step, applies what the
    /// controllers did meanwhile, and waits (up to a second) until every
    /// open watch has handed those events to its connection, so a client
    /// that then reads usage for the new instant has been sent the cluster
    /// as of it. No-op without a step.
    async fn step(&self) -> Result<(), EtcdError> {
        let Some(step) = self.step else {
            return Ok(());
        };
        self.clock.advance(step);
        self.catch_up()?;
        self.deliveries
            .wait_for(
                self.store.resource_version(),
                std::time::Duration::from_secs(1),
            )
            .await;
        Ok(())
    }

    /// Applies everything the cluster's controllers would have done by now
    /// on the simulated clock; returns how many changes happened.
    ///
    /// # Errors
    ///
    /// A [`EtcdError`] if the store refuses a write (a simulator defect).
    pub fn catch_up(&self) -> Result<usize, EtcdError> {
        let now = self.clock.now();
        let due = self
            .model
            .read()
            .map(|model| model.next_due().is_some_and(|at| at <= now))
            .unwrap_or(false);
        if !due {
            return Ok(0);
        }
        match self.model.write() {
            Ok(mut model) => cluster::advance(&mut model, &self.store, now),
            Err(_) => Ok(0),
        }
    }

    /// Real time until the next change is due (at most `cap`).
    fn until_next_change(&self, cap: std::time::Duration) -> std::time::Duration {
        let next = self.model.read().ok().and_then(|m| m.next_due());
        next.map_or(cap, |at| self.clock.real_until(at).min(cap))
    }
}

/// Runs the cluster's life in real time: applies each change when the
/// simulated clock reaches it, so watches see events as they happen.
async fn live(sim: Arc<Sim>) {
    loop {
        let wait = sim.until_next_change(std::time::Duration::from_millis(100));
        tokio::time::sleep(wait).await;
        if let Err(error) = sim.catch_up() {
            eprintln!("kubetally sim: the simulated controllers stopped: {error}");
            return;
        }
    }
}

/// A running simulated API server.
pub struct SimServer {
    pub addr: SocketAddr,
    pub sim: Arc<Sim>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    life: tokio::task::JoinHandle<()>,
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.life.abort();
    }
}

impl SimServer {
    /// Generates the cluster and serves it on `listen` (port 0 picks a free port).
    ///
    /// # Errors
    ///
    /// [`SimError`] when the cluster cannot be generated or the address bound.
    pub async fn start(config: &SimConfig, listen: SocketAddr) -> Result<SimServer, SimError> {
        let sim = Arc::new(Sim::new(config)?);
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|cause| SimError::Listen {
                addr: listen,
                cause,
            })?;
        let addr = listener.local_addr().map_err(|cause| SimError::Listen {
            addr: listen,
            cause,
        })?;
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(sim.clone());
        let (shutdown, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        let life = tokio::spawn(live(sim.clone()));
        Ok(SimServer {
            addr,
            sim,
            shutdown: Some(shutdown),
            task,
            life,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig that points kubectl or kube at this server.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kubetally-sim\n  cluster:\n    server: {}\nusers:\n- name: kubetally-sim\n  user: {{}}\ncontexts:\n- name: kubetally-sim\n  context:\n    cluster: kubetally-sim\n    user: kubetally-sim\ncurrent-context: kubetally-sim\n",
            self.url()
        )
    }

    /// Stops serving: new connections are refused at once; open requests get
    /// two seconds to finish, then long watches are cut as a restarting
    /// server cuts them.
    ///
    /// # Errors
    ///
    /// The server task's I/O error, if it failed.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match tokio::time::timeout(std::time::Duration::from_secs(2), &mut self.task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(std::io::Error::other(join)),
            Err(_) => {
                self.task.abort();
                Ok(())
            }
        }
    }

    /// Waits until the server stops by itself (it only does on error).
    ///
    /// # Errors
    ///
    /// The server task's I/O error.
    pub async fn wait(&mut self) -> std::io::Result<()> {
        match (&mut self.task).await {
            Ok(result) => result,
            Err(join) => Err(std::io::Error::other(join)),
        }
    }
}
