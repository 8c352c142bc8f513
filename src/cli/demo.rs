//! `kubetally demo`: the simulated cluster and the real collector, end to
//! end over HTTP, for a simulated day in about a minute.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;

use super::collect::{init_logs, install_crypto};
use crate::allocate::{Pattern, SHARED, TenantRules};
use crate::collect::{CollectConfig, Collector, StopAfter, Summary};
use crate::pricing::{PriceBook, PricingOptions};
use crate::sim::{ClusterSpec, SimConfig, SimServer};
use crate::store::Dataset;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the dataset goes.
    #[arg(long, value_name = "DIR", default_value = "kubetally-demo")]
    pub out: PathBuf,
    /// Simulated hours to collect: by default 15 days, two full weeks for
    /// the weekly report and a day more.
    #[arg(long, default_value_t = 360)]
    pub hours: u32,
    /// Run the simulated clock at this many simulated seconds per real
    /// second. By default the clock is fast: each of the collector's
    /// metrics polls moves it one simulated minute, so the collector is the
    /// only limit.
    #[arg(long)]
    pub speed: Option<f64>,
    /// Seed of the simulated cluster.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Nodes in the simulated cluster.
    #[arg(long, default_value_t = 20)]
    pub nodes: usize,
    /// Pods in the simulated cluster.
    #[arg(long, default_value_t = 300)]
    pub pods: usize,
}

const CLUSTER: &str = "demo";
/// Simulated seconds between two samples, as `collect --interval 60s`.
const SAMPLE_SECONDS: i64 = 60;

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    if let Some(speed) = args.speed
        && !(speed.is_finite() && speed > 0.0)
    {
        bail!("--speed {speed}: expected a positive number");
    }
    if args.hours == 0 {
        bail!("--hours: must be at least 1");
    }
    install_crypto();
    init_logs("error");
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let started = std::time::Instant::now();
    let summary = runtime.block_on(collect(&args))?;
    print_summary(&args, &summary, started.elapsed());
    Ok(ExitCode::SUCCESS)
}

async fn collect(args: &DemoArgs) -> anyhow::Result<Summary> {
    let sim_config = SimConfig {
        cluster: ClusterSpec {
            nodes: args.nodes,
            pods: args.pods,
            seed: args.seed,
        },
        speed: args.speed.unwrap_or(1.0),
        step: args
            .speed
            .is_none()
            .then(|| chrono::Duration::seconds(SAMPLE_SECONDS)),
        ..SimConfig::default()
    };
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let server = SimServer::start(&sim_config, listen)
        .await
        .context("starting the simulated cluster")?;
    let url = server.url().parse().context("the simulator's URL")?;
    let client =
        kube::Client::try_from(kube::Config::new(url)).context("building the Kubernetes client")?;
    let mut tenants = TenantRules::new(Some("tenant".into()));
    tenants.shared = ["kube-system", "monitoring", "ingress"]
        .iter()
        .map(|p| Pattern::new(p))
        .collect();
    let config = CollectConfig {
        dataset: Dataset {
            target: crate::store::Target::Local(args.out.clone()),
            cluster: CLUSTER.into(),
            writer: "0".into(),
        },
        // One sample per simulated minute, as `collect --interval 60s` takes;
        // on the fast clock, as fast as the collector goes.
        interval: match args.speed {
            Some(speed) => std::time::Duration::from_secs_f64(SAMPLE_SECONDS as f64 / speed),
            None => std::time::Duration::from_millis(1),
        },
        stop: StopAfter {
            samples: None,
            duration: Some(chrono::Duration::hours(i64::from(args.hours))),
        },
        write_samples: true,
        tenants,
        prices: Arc::new(PriceBook::new(Vec::new(), PricingOptions::default())?),
        wal_dir: Some(args.out.join("_wal")),
        leader: None,
    };
    let collector = Collector::default();
    let summary = collector
        .run(client, &config, std::future::pending())
        .await
        .context("collecting from the simulated cluster")?;
    server
        .stop()
        .await
        .context("stopping the simulated cluster")?;
    Ok(summary)
}

fn print_summary(args: &DemoArgs, summary: &Summary, took: std::time::Duration) {
    let out = args.out.display();
    println!(
        "kubetally demo: collected {} h of a simulated cluster ({} nodes, {} pods, seed {}) in {:.0} s.",
        args.hours,
        args.nodes,
        args.pods,
        args.seed,
        took.as_secs_f64()
    );
    println!(
        "Dataset: {out}/{{allocation,nodes,workloads,samples}}/cluster={CLUSTER}/date=…/*.parquet ({} samples)\n",
        summary.samples
    );
    let mut tenants: Vec<(&String, &f64)> = summary
        .cost_by_tenant
        .iter()
        .filter(|(tenant, _)| tenant.as_str() != SHARED)
        .collect();
    tenants.sort_by(|a, b| b.1.total_cmp(a.1));
    println!("Cost by tenant, USD over {} h (list prices):", args.hours);
    for (tenant, cost) in &tenants {
        println!("  {tenant:<14} {cost:>10.2}");
    }
    let shared = summary.cost_by_tenant.get(SHARED).copied().unwrap_or(0.0);
    let allocated: f64 = summary.cost_by_tenant.values().sum();
    println!("  {:<14} {shared:>10.2}", SHARED);
    println!("  {:<14} {:>10.2}", "idle", summary.idle_cost_usd);
    println!(
        "  {:<14} {:>10.2}  (tenants + shared + idle = node cost {:.2})",
        "total",
        allocated + summary.idle_cost_usd,
        summary.node_cost_usd
    );
    if !summary.errors.is_empty() {
        println!("\nAPI errors survived: {:?}", summary.errors);
    }
    println!("\nNext:");
    println!(
        "  python3 -c \"import duckdb; print(duckdb.sql(\\\"select tenant, round(sum(total_cost_usd), 2) usd from read_parquet('{out}/allocation/**/*.parquet', hive_partitioning=true) group by 1 order by 2 desc\\\"))\""
    );
    println!(
        "  kubetally sim serve --speed 60 --kubeconfig-out /tmp/sim.kubeconfig   # a cluster to explore with kubectl"
    );
    println!(
        "  kubetally collect --kubeconfig /tmp/sim.kubeconfig --out /tmp/data --interval 1s --tenant-label tenant --samples 30"
    );
}
