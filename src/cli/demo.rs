//! `kubetally demo`: the simulated cluster and the real collector, end to
//! end over HTTP, for a simulated fortnight in minutes (the simulator's fast
//! clock moves a simulated minute per usage poll), then where to look next:
//! the weekly report's headline, the largest savings and `report.html`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;

use super::collect::{init_logs, install_crypto};
use crate::allocate::resources::{Part, Parts};
use crate::allocate::{Pattern, SHARED, TenantRules};
use crate::collect::{CollectConfig, Collector, StopAfter, Summary};
use crate::pricing::{PriceBook, PricingOptions};
use crate::sim::{ClusterSpec, SimConfig, SimServer};
use crate::store::Dataset;
use crate::store::rows::RecommendationRow;

/// `kubetally demo --help`.
const EXAMPLES: &str = "\
Examples:
  # A fortnight and a day of the 20-node cluster, then the weekly report and savings
  kubetally demo
  # Six simulated hours of a smaller cluster into another folder
  kubetally demo --out /tmp/demo --hours 6 --nodes 10 --pods 120
  # A simulated day on a clock tied to wall time: 1440 simulated seconds a second
  kubetally demo --hours 24 --speed 1440
  # A GKE Autopilot cluster: pods billed by request at Autopilot rates, no node cost
  kubetally demo --autopilot --hours 48
  # Two GPU nodes shared by MIG and time-slicing, billed by the slice
  kubetally demo --gpu-nodes --hours 48";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
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
    /// Simulate a GKE Autopilot cluster (`sim serve --autopilot`): its pods
    /// are billed by request at Autopilot rates and its nodes cost nothing.
    #[arg(long)]
    pub autopilot: bool,
    /// Add two GPU nodes (`sim serve --gpu-nodes`): an A100 cut by MIG and
    /// an L4 time-sliced four ways, each pod billed for its slice.
    #[arg(long)]
    pub gpu_nodes: bool,
    /// How compute is billed, as `collect --billing`.
    #[arg(long, value_name = "MODE", default_value = "auto")]
    pub billing: crate::pricing::Billing,
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
    cluster_spec(&args).check()?;
    install_crypto();
    init_logs("error");
    start_clean(&args.out)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let started = std::time::Instant::now();
    let summary = runtime.block_on(collect(&args))?;
    print_summary(&args, &summary, started.elapsed());
    let savings = recommend(&args.out)?;
    look_next(&args.out, &savings)?;
    print_next(&args.out);
    Ok(ExitCode::SUCCESS)
}

/// Shows the simulated day being collected and the hours published, from
/// the collector's own counters, until aborted.
async fn show_progress(stats: Arc<crate::collect::Stats>, hours: u32) {
    use crate::collect::Stats;
    let progress =
        super::progress::Progress::new("kubetally demo", u64::from(hours), "hours published");
    let epoch = crate::sim::epoch().timestamp();
    let _finish = Finish(&progress);
    loop {
        let last = i64::try_from(Stats::get(&stats.last_sample_seconds)).unwrap_or(0);
        if last > 0 {
            let day = (last - epoch) / 86_400 + 1;
            progress.set(
                Stats::get(&stats.hours_published),
                &format!(
                    "collecting simulated day {day} of {}",
                    u64::from(hours).div_ceil(24)
                ),
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Clears the bar however the progress task ends (it is aborted).
struct Finish<'a>(&'a super::progress::Progress);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// The weekly report, in `--out`.
const REPORT: &str = "report.html";

/// Empties `out` of a previous demo's dataset, so a rerun's summary is the
/// dataset's (a rerun into the same folder used to replay the old log and
/// add to the old files). A folder holding anything else is refused.
fn start_clean(out: &std::path::Path) -> anyhow::Result<()> {
    if crate::store::clear::clear_dataset(out, &[REPORT]).context("--out")? {
        eprintln!(
            "kubetally demo: replaced the previous demo dataset in {}",
            out.display()
        );
    }
    Ok(())
}

/// Recommends on the collected fortnight and writes the `recommendations`
/// table (the report's savings section reads it); returns the three
/// largest savings.
fn recommend(out: &std::path::Path) -> anyhow::Result<Vec<RecommendationRow>> {
    let book = PriceBook::new(Vec::new(), PricingOptions::default())?;
    let options = crate::recommend::plan::Options {
        strategy: crate::recommend::strategy::Strategy::Kubetally,
        last: chrono::Duration::days(14),
        namespace: None,
        cluster: Some(CLUSTER.into()),
        min_savings_usd: 0.0,
    };
    let plan = crate::recommend::plan::plan(out, &book, &options)
        .context("recommending on the demo's dataset")?;
    super::recommend::publish(&out.display().to_string(), &plan)?;
    let mut rows: Vec<RecommendationRow> = plan
        .rows()
        .into_iter()
        .filter(|row| row.monthly_savings_usd > 0.0)
        .collect();
    rows.sort_by(|a, b| b.monthly_savings_usd.total_cmp(&a.monthly_savings_usd));
    rows.truncate(3);
    Ok(rows)
}

/// The weekly report's headline, the largest savings and where the full
/// report is: where a user looks next.
#[cfg(feature = "analyze")]
fn look_next(out: &std::path::Path, savings: &[RecommendationRow]) -> anyhow::Result<()> {
    use crate::analyze::report::{self, Options, ReportFormat};
    let mut session = crate::analyze::Session::open(out)?;
    let report = report::build(&mut session, &Options::default())?;
    let path = out.join(REPORT);
    let mut file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    report::render(&report, ReportFormat::Html, &mut file)?;
    let change = |now: f64, before: Option<f64>| match before {
        Some(before) if before > 0.0 => {
            format!("{:+.1} % on the week before", (now / before - 1.0) * 100.0)
        }
        _ => "no week before to compare".to_owned(),
    };
    let last_day = report.period.end - chrono::Duration::days(1);
    println!(
        "\nThe week {} to {} (kubetally report; shared and idle cost spread over tenants):",
        report.period.start.format("%a %Y-%m-%d"),
        last_day.format("%a %Y-%m-%d")
    );
    println!(
        "  {:<14} {:>10.2} USD  {}",
        "total",
        report.total_cost_usd,
        change(report.total_cost_usd, report.previous_total_cost_usd)
    );
    for group in report.groups.iter().take(5) {
        println!(
            "  {:<14} {:>10.2}      {}",
            group.name,
            group.total_cost_usd,
            change(group.total_cost_usd, group.previous_total_cost_usd)
        );
    }
    print_savings(savings);
    println!("\nThe whole report: {}", path.display());
    Ok(())
}

/// Without the analysis engine (a collector-only build): the savings only.
#[cfg(not(feature = "analyze"))]
fn look_next(_out: &std::path::Path, savings: &[RecommendationRow]) -> anyhow::Result<()> {
    print_savings(savings);
    Ok(())
}

fn print_savings(savings: &[RecommendationRow]) {
    println!("\nLargest savings (kubetally recommend, USD a month):");
    if savings.is_empty() {
        println!("  none found");
    }
    for (rank, row) in savings.iter().enumerate() {
        let what = match row.kind {
            "rightsizing" => format!(
                "right-size {}/{} {} container {}",
                row.namespace, row.workload_kind, row.workload_name, row.container
            ),
            "spot" => format!(
                "move {}/{} {} to spot",
                row.namespace, row.workload_kind, row.workload_name
            ),
            _ => format!("switch node pool {} ({})", row.node_pool, row.reason),
        };
        println!("  {}. {:>9.2}  {what}", rank + 1, row.monthly_savings_usd);
    }
}

fn cluster_spec(args: &DemoArgs) -> ClusterSpec {
    ClusterSpec {
        nodes: args.nodes,
        pods: args.pods,
        seed: args.seed,
        autopilot: args.autopilot,
        gpu_nodes: args.gpu_nodes,
        ..ClusterSpec::default()
    }
}

async fn collect(args: &DemoArgs) -> anyhow::Result<Summary> {
    let sim_config = SimConfig {
        cluster: cluster_spec(args),
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
        prices: Arc::new(PriceBook::new(
            Vec::new(),
            PricingOptions {
                billing: args.billing,
                ..PricingOptions::default()
            },
        )?),
        wal_dir: Some(args.out.join(crate::store::wal::DEFAULT_DIR)),
        leader: None,
        metrics_limits: Default::default(),
    };
    let collector = Collector::default();
    let progress = tokio::spawn(show_progress(collector.stats.clone(), args.hours));
    let summary = collector
        .run(client, &config, std::future::pending())
        .await
        .context("collecting from the simulated cluster");
    progress.abort();
    let _ = progress.await;
    let summary = summary?;
    server
        .stop()
        .await
        .context("stopping the simulated cluster")?;
    Ok(summary)
}

/// The demo's bill: what the cluster cost, and where it went.
struct Bill {
    /// Nodes (on Autopilot, the pods' bills) and every resource.
    cluster_usd: f64,
    resources: Parts,
    /// Charged to tenants (containers, own disks and balancers) and to
    /// `__shared__` (shared namespaces, overhead disks and balancers, the fee).
    tenants_usd: f64,
    shared_usd: f64,
    idle_usd: f64,
}

impl Bill {
    fn of(summary: &Summary) -> Bill {
        let mut resources = Parts::default();
        for (kind, usd) in &summary.resource_cost_usd {
            resources.add(Part::of(kind), *usd);
        }
        let shared_usd = summary.cost_by_tenant.get(SHARED).copied().unwrap_or(0.0);
        let charged: f64 = summary.cost_by_tenant.values().sum();
        Bill {
            cluster_usd: summary.node_cost_usd + summary.autopilot_cost_usd + resources.total(),
            resources,
            tenants_usd: charged - shared_usd,
            shared_usd,
            idle_usd: summary.idle_cost_usd,
        }
    }

    /// Tenants + shared + idle: equal to `cluster_usd` by the dataset's
    /// invariant, computed apart so the summary shows it.
    fn charged_usd(&self) -> f64 {
        self.tenants_usd + self.shared_usd + self.idle_usd
    }
}

fn print_summary(args: &DemoArgs, summary: &Summary, took: std::time::Duration) {
    let out = args.out.display();
    let days = f64::from(args.hours) / 24.0;
    println!(
        "kubetally demo: collected {days:.1} days ({} h) of a simulated cluster ({} nodes, {} pods, seed {}) in {:.0} s.",
        args.hours,
        args.nodes,
        args.pods,
        args.seed,
        took.as_secs_f64()
    );
    println!(
        "Dataset: {out}/{{allocation,nodes,resources,workloads,samples}}/cluster={CLUSTER}/date=…/*.parquet ({} samples, {} hours)",
        summary.samples, summary.hours_published
    );
    let bill = Bill::of(summary);
    let compute = if summary.autopilot_cost_usd > 0.0 {
        format!(
            "pods billed by GKE Autopilot {:.2} + nodes {:.2}",
            summary.autopilot_cost_usd, summary.node_cost_usd
        )
    } else {
        format!("nodes {:.2}", summary.node_cost_usd)
    };
    println!(
        "The cluster cost {:.2} USD = {compute} + disks {:.2} + load balancers {:.2} + cluster fee {:.2} (list prices)",
        bill.cluster_usd,
        bill.resources.storage_usd,
        bill.resources.network_usd,
        bill.resources.fee_usd,
    );
    println!(
        "The bill adds up: {:.2} USD = tenants {:.2} + shared {:.2} + idle {:.2} (tenants: containers, own disks and load balancers; shared: shared namespaces, overhead disks and balancers, the fee)",
        bill.charged_usd(),
        bill.tenants_usd,
        bill.shared_usd,
        bill.idle_usd,
    );
    if !summary.errors.is_empty() {
        println!("API errors survived: {:?}", summary.errors);
    }
}

/// Commands to go on with, as they work on the demo's dataset.
fn print_next(out: &std::path::Path) {
    let out = out.display();
    println!("\nNext:");
    println!(
        "  kubetally report --data {out} --format md          # the weekly report in the terminal"
    );
    println!("  kubetally recommend --data {out}                    # every recommendation");
    println!(
        "  kubetally query --data {out} -n chargeback_by_tenant   # SQL; --list shows the bundled queries"
    );
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
