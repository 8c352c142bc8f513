//! An in-process simulated cluster, paused, and the collector's synced
//! inventory of it: what the collect benchmark ticks and what the dataset
//! benchmarks collect their hour from (`collect_hour.rs`). Included by each
//! with `#[path]`; it calls the benchmark's own `fail`.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kubetally::allocate::{HourRows, TenantRules};
use kubetally::cluster::{Inventory, SharedInventory, lock};
use kubetally::collect::{Ledger, Stats};
use kubetally::pricing::{PriceBook, PricingOptions};
use kubetally::sim::{ClusterSpec, SimConfig, SimServer};
use kubetally::source::metrics::{self, NodeUsage, PodUsage};
use kubetally::source::watch::{self, OnError};
use tokio::task::JoinHandle;

use super::fail;

/// The simulated cluster of `pods` pods: nodes = pods / 30, bound
/// PersistentVolumeClaims (with their volumes) = pods / 5 beside the
/// StatefulSets' (issue #18: 30,000 at 150,000 pods), seed 1.
pub fn spec(pods: usize) -> ClusterSpec {
    ClusterSpec {
        nodes: (pods / 30).max(1),
        pods,
        claims: pods / 5,
        seed: 1,
        ..ClusterSpec::default()
    }
}

/// A kube client for `url`; its background tasks run on the entered runtime.
pub fn client(url: &str) -> kube::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let url = url.parse().unwrap_or_else(|e| fail(e));
    kube::Client::try_from(kube::Config::new(url)).unwrap_or_else(|e| fail(e))
}

pub fn on_error() -> OnError {
    Arc::new(|error| {
        eprintln!(
            "{} bench: {}",
            env!("CARGO_CRATE_NAME"),
            kubetally::collect::event::Causes(&error)
        )
    })
}

/// Runs the simulated clock on to `to` (paused before and after).
pub fn advance(server: &SimServer, to: DateTime<Utc>) {
    let clock = &server.sim.clock;
    clock.set_speed(600.0);
    while clock.now() < to {
        std::thread::sleep(Duration::from_millis(1));
    }
    clock.set_speed(0.0);
    server.sim.catch_up().unwrap_or_else(|e| fail(e));
}

/// The simulator served over HTTP, the real watchers synced, and what a
/// tick needs: tenants from the `tenant` label as `kubetally demo` runs it,
/// the embedded price catalog.
pub struct Cluster {
    /// The simulator's runtime (and the watchers'): its own threads.
    sim_runtime: tokio::runtime::Runtime,
    /// The collector's tick: a current-thread runtime on the bench thread.
    pub runtime: tokio::runtime::Runtime,
    server: Option<SimServer>,
    /// Built inside `runtime`, so its connection tasks run on the bench thread.
    pub client: kube::Client,
    pub inventory: SharedInventory,
    watchers: Vec<JoinHandle<()>>,
    pub rules: TenantRules,
    pub prices: PriceBook,
    pub stats: Stats,
}

impl Cluster {
    pub fn start(pods: usize) -> Cluster {
        let sim_runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("sim")
            .enable_all()
            .build()
            .unwrap_or_else(|e| fail(e));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| fail(e));
        let config = SimConfig {
            cluster: spec(pods),
            speed: 0.0,
            ..SimConfig::default()
        };
        let listen = "127.0.0.1:0".parse().unwrap_or_else(|e| fail(e));
        let server = sim_runtime
            .block_on(SimServer::start(&config, listen))
            .unwrap_or_else(|e| fail(e));
        let url = server.url();
        let inventory: SharedInventory = Arc::new(Mutex::new(Inventory::default()));
        let watchers = {
            let _entered = sim_runtime.enter();
            watch::spawn_all(&client(&url), &inventory, &on_error())
        };
        while !lock(&inventory).is_synced() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let client = {
            let _entered = runtime.enter();
            client(&url)
        };
        Cluster {
            sim_runtime,
            runtime,
            server: Some(server),
            client,
            inventory,
            watchers,
            rules: TenantRules::new(Some("tenant".into())),
            prices: PriceBook::new(Vec::new(), PricingOptions::default())
                .unwrap_or_else(|e| fail(e)),
            stats: Stats::default(),
        }
    }

    /// The running simulator.
    pub fn server(&self) -> &SimServer {
        self.server
            .as_ref()
            .unwrap_or_else(|| fail("the simulator is stopped"))
    }

    /// One tick's pod and node usage from the metrics API.
    pub fn fetch(&self) -> (Vec<PodUsage>, Vec<NodeUsage>) {
        self.runtime.block_on(async {
            let pods = metrics::pod_usage(&self.client)
                .await
                .unwrap_or_else(|e| fail(e))
                .items;
            let nodes = metrics::node_usage(&self.client)
                .await
                .unwrap_or_else(|e| fail(e))
                .items;
            (pods, nodes)
        })
    }

    /// One tick into `ledger`, as the collector takes it in.
    pub fn ingest(&self, ledger: &mut Ledger, pods: Vec<PodUsage>, nodes: Vec<NodeUsage>) {
        let closed = {
            let mut inventory = lock(&self.inventory);
            ledger.ingest(
                pods,
                nodes,
                &mut inventory,
                &self.rules,
                &self.prices,
                &self.stats,
            )
        };
        black_box(closed);
        black_box(ledger.take_tick());
    }

    /// Closes the hour that ends at `until`, as the collector does at the
    /// hour's end: `Ledger::flush` with the synced inventory.
    pub fn flush(&self, ledger: &mut Ledger, until: DateTime<Utc>) -> Vec<HourRows> {
        let inventory = lock(&self.inventory);
        ledger.flush(until, &inventory, &self.prices, &self.rules)
    }

    pub fn stop(mut self) {
        for watcher in self.watchers.drain(..) {
            watcher.abort();
        }
        if let Some(server) = self.server.take() {
            let _ = self.sim_runtime.block_on(server.stop());
        }
    }
}
