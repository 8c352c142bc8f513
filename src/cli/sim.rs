//! `kubetally sim serve`: the simulated cluster as a standalone server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::duration::parse_duration;
use crate::sim::scenario::Scenario;
use crate::sim::{ClusterSpec, FaultSpec, SimConfig, SimServer};

/// `kubetally sim --help` and `kubetally sim serve --help`.
const EXAMPLES: &str = "\
Examples:
  # 300 pods on 20 nodes, an hour a minute, for kubectl or `kubetally collect --kubeconfig`
  kubetally sim serve --speed 60 --kubeconfig-out /tmp/sim.kubeconfig
  # A bigger cluster on a free port
  kubetally sim serve --nodes 100 --pods 3000 --seed 7 --listen 127.0.0.1:0 \\
    --kubeconfig-out /tmp/sim.kubeconfig
  # An API server under stress (rules in docs/faults.md)
  kubetally sim serve --faults 'list=5%:503,metrics=10%:429,cut=20s' \\
    --kubeconfig-out /tmp/sim.kubeconfig
  # The fast clock: a simulated minute per usage poll, as fast as the collector samples
  kubetally sim serve --step 60s --kubeconfig-out /tmp/sim.kubeconfig";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct SimArgs {
    #[command(subcommand)]
    pub command: SimCommand,
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve a simulated cluster over the Kubernetes HTTP API until stopped.
    Serve(ServeArgs),
    /// Write the bill a dataset's cluster would get from its cloud, with
    /// discounts and an unmetered egress line (to test `reconcile`).
    Bill(super::sim_bill::BillArgs),
}

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub listen: SocketAddr,
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 20)]
    pub nodes: usize,
    /// Pods in the cluster.
    #[arg(long, default_value_t = 300)]
    pub pods: usize,
    /// Seed of the generated cluster and its usage.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// The fast clock: simulated time stands still, and each list of every
    /// pod's usage (PodMetrics, as a collector polls it) first moves it this
    /// much forward, so the cluster runs as fast as one collector samples
    /// (set the collector's --interval to a few milliseconds). --speed is
    /// then ignored.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub step: Option<chrono::Duration>,
    /// Misbehave like a real API server under stress, e.g.
    /// 'list=5%:503,metrics=10%:429,cut=20s,gone=30%,slow=10%:2s,metrics-down=10m/6h'
    /// (rules are described in docs/faults.md).
    #[arg(long, value_name = "SPEC")]
    pub faults: Option<String>,
    /// Serve this hand-written cluster (JSON; see docs/simulator.md)
    /// instead of generating one; --nodes and --pods are then ignored.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Add two GPU nodes beyond --nodes (an A100 partitioned by MIG, an L4
    /// time-sliced four ways) and six pods sharing them.
    #[arg(long)]
    pub gpu_nodes: bool,
    /// GKE Autopilot mode: Google-managed nodes (gk3-…) of compute classes
    /// (general-purpose, Balanced, Scale-Out, Spot), pods selecting their
    /// node's class, and GKE's system DaemonSets in kube-system.
    #[arg(long)]
    pub autopilot: bool,
    /// Add this many bound PersistentVolumeClaims (with their volumes, in
    /// the tenants' namespaces, mounted by nothing) beyond the StatefulSets'.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub claims: usize,
    /// Write a kubeconfig pointing at the server to this file.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig_out: Option<PathBuf>,
}

pub fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        SimCommand::Serve(serve) => run_serve(serve),
        SimCommand::Bill(bill) => super::sim_bill::run(bill),
    }
}

fn run_serve(serve: ServeArgs) -> anyhow::Result<ExitCode> {
    if !(serve.speed.is_finite() && serve.speed > 0.0) {
        anyhow::bail!(
            "--speed {}: expected a positive number of simulated seconds per second",
            serve.speed
        );
    }
    let faults: FaultSpec = match &serve.faults {
        Some(text) => text.parse().context("--faults")?,
        None => FaultSpec::default(),
    };
    let scenario = match &serve.scenario {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading scenario {}", path.display()))?;
            Some(Scenario::parse(&text, &path.display().to_string())?)
        }
        None => None,
    };
    let (nodes, pods) = match &scenario {
        Some(scenario) => (scenario.nodes.len(), scenario.pods.len()),
        None => (serve.nodes, serve.pods),
    };
    let config = SimConfig {
        scenario,
        cluster: ClusterSpec {
            nodes: serve.nodes,
            pods: serve.pods,
            seed: serve.seed,
            gpu_nodes: serve.gpu_nodes,
            autopilot: serve.autopilot,
            claims: serve.claims,
        },
        speed: serve.speed,
        faults,
        step: serve.step,
        ..SimConfig::default()
    };
    config.cluster.check()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let server = SimServer::start(&config, serve.listen).await?;
        if let Some(path) = &serve.kubeconfig_out {
            std::fs::write(path, server.kubeconfig())
                .with_context(|| format!("writing kubeconfig {}", path.display()))?;
        }
        let clock = match serve.step {
            Some(step) => format!("fast clock: {}s a metrics poll", step.num_seconds()),
            None => format!("speed {}x", serve.speed),
        };
        let injecting = if faults.is_empty() {
            String::new()
        } else {
            format!(", faults {faults}")
        };
        eprintln!(
            "kubetally sim: serving {nodes} nodes and {pods} pods at {} (seed {}, {clock}{injecting}); stop with Ctrl-C",
            server.url(),
            serve.seed,
        );
        super::shutdown_signal().await;
        eprintln!("kubetally sim: stopping");
        server.stop().await.context("stopping the simulated API server")?;
        Ok(ExitCode::SUCCESS)
    })
}
