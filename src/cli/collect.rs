//! `kubetally collect`: the long-running collector.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;

use super::PricingFlags;
use super::duration::{parse_duration, parse_std_duration};
use crate::allocate::{Pattern, TenantRules, parse_tenant_map};
use crate::collect::{CollectConfig, Collector, LeaderConfig, StopAfter, Summary};
use crate::serve::{self, ServeState};
use crate::store::Dataset;

const EXAMPLES: &str = "\
Examples:
  # In the cluster (in-cluster credentials), to its PVC
  kubetally collect --out /data --cluster-name prod --tenant-label team
  # From a workstation, to object storage
  kubetally collect --kubeconfig ~/.kube/config --context staging \\
    --out s3://my-bucket/kubetally --wal-dir /tmp/kubetally-wal
  # 30 samples of `kubetally sim serve --speed 60 --kubeconfig-out /tmp/sim.kubeconfig`
  kubetally collect --kubeconfig /tmp/sim.kubeconfig --out /tmp/data --interval 1s --samples 30";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct CollectArgs {
    /// Kubeconfig to use outside the cluster (default: $KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Where the dataset goes: a local directory (a PVC in the cluster) or an
    /// object store URL: `s3://BUCKET/PREFIX`, `gs://BUCKET/PREFIX`,
    /// `az://CONTAINER/PREFIX`. Credentials, region and endpoint come from the
    /// cloud's usual environment variables (`AWS_*`, `GOOGLE_*`, `AZURE_*`;
    /// see docs/storage.md).
    #[arg(long, value_name = "DIR|URL")]
    pub out: String,
    /// Cluster name: the `cluster=` partition of every file.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub cluster_name: String,
    /// Writer id in file names; keep it stable across restarts and replicas
    /// of one collector so a republished hour replaces, never duplicates.
    #[arg(long, value_name = "ID", default_value = "0")]
    pub writer_id: String,
    /// Real time between metrics samples (`60s`, `15s`, `500ms`).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_std_duration)]
    pub interval: std::time::Duration,
    /// Stop after this much sample time (metrics timestamps), writing everything.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<chrono::Duration>,
    /// Stop after this many metrics samples, writing everything.
    #[arg(long, value_name = "N")]
    pub samples: Option<u64>,
    #[command(flatten)]
    pub pricing: PricingFlags,
    /// How compute is billed: `nodes` (what the node VMs cost, split over
    /// their containers), `autopilot` (GKE Autopilot: each pod by its
    /// rounded requests at its compute class's rates, nodes free), or
    /// `auto`: autopilot when the nodes are Autopilot's (named gk3-…).
    #[arg(long, value_name = "MODE", default_value = "auto")]
    pub billing: crate::pricing::Billing,
    /// Label key naming a pod's tenant (on the pod, else on its namespace).
    #[arg(long, value_name = "KEY")]
    pub tenant_label: Option<String>,
    /// File of `NAMESPACE_PATTERN = TENANT` lines; wins over labels.
    #[arg(long, value_name = "FILE")]
    pub tenant_map: Option<PathBuf>,
    /// Namespace patterns whose cost is shared (tenant `__shared__`).
    #[arg(
        long,
        value_name = "PATTERNS",
        value_delimiter = ',',
        default_value = "kube-system"
    )]
    pub shared_namespaces: Vec<String>,
    /// Directory of the write-ahead log of the open hours (default: `_wal`
    /// under a local --out; required with an object store --out, for
    /// example an emptyDir or a small PVC).
    #[arg(long, value_name = "DIR")]
    pub wal_dir: Option<PathBuf>,
    /// Serve /metrics, /healthz and /readyz here; `none` serves nothing.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:9090", value_parser = parse_listen)]
    pub listen: Listen,
    /// Do not write the per-sample `samples` table.
    #[arg(long)]
    pub no_samples: bool,
    #[command(flatten)]
    pub election: ElectionFlags,
}

/// Leader election between replicas (`coordination.k8s.io/v1` Lease).
#[derive(Debug, Clone, clap::Args)]
pub struct ElectionFlags {
    /// Compete for a Lease; only the holder samples and writes, the others
    /// keep their caches warm and take over when it stops renewing.
    #[arg(long)]
    pub leader_elect: bool,
    /// Name of the Lease.
    #[arg(long, value_name = "NAME", default_value = "kubetally")]
    pub lease_name: String,
    /// Namespace of the Lease (default: $POD_NAMESPACE, else the pod's own
    /// namespace from its service account, else `default`).
    #[arg(long, value_name = "NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// This replica's identity in the Lease (default: $POD_NAME, else the host name).
    #[arg(long, value_name = "ID")]
    pub leader_identity: Option<String>,
    /// How long a Lease that stopped being renewed is honoured.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_std_duration)]
    pub lease_duration: std::time::Duration,
    /// A leader that could not renew for this long stops leading (< --lease-duration).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_std_duration)]
    pub renew_deadline: std::time::Duration,
    /// Time between attempts to acquire or renew (< --renew-deadline).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_std_duration)]
    pub retry_period: std::time::Duration,
}

impl ElectionFlags {
    /// The election settings, or none without `--leader-elect`.
    fn config(&self) -> anyhow::Result<Option<LeaderConfig>> {
        if !self.leader_elect {
            return Ok(None);
        }
        if self.retry_period.is_zero()
            || self.retry_period >= self.renew_deadline
            || self.renew_deadline >= self.lease_duration
        {
            bail!(
                "--retry-period {:?} < --renew-deadline {:?} < --lease-duration {:?} must hold (a leader must give up before another may take over)",
                self.retry_period,
                self.renew_deadline,
                self.lease_duration
            );
        }
        let namespace = match &self.lease_namespace {
            Some(namespace) => namespace.clone(),
            None => std::env::var("POD_NAMESPACE")
                .ok()
                .filter(|n| !n.is_empty())
                .or_else(|| {
                    std::fs::read_to_string(
                        "/var/run/secrets/kubernetes.io/serviceaccount/namespace",
                    )
                    .ok()
                    .map(|n| n.trim().to_owned())
                })
                .unwrap_or_else(|| "default".to_owned()),
        };
        let identity = match &self.leader_identity {
            Some(identity) => identity.clone(),
            None => std::env::var("POD_NAME")
                .ok()
                .or_else(|| std::env::var("HOSTNAME").ok())
                .filter(|n| !n.is_empty())
                .or_else(|| {
                    std::fs::read_to_string("/etc/hostname")
                        .ok()
                        .map(|n| n.trim().to_owned())
                })
                .filter(|n| !n.is_empty())
                .context(
                    "--leader-identity: not given, and neither $POD_NAME nor the host name is set",
                )?,
        };
        let mut config = LeaderConfig::new(self.lease_name.clone(), namespace, identity);
        config.lease_duration = self.lease_duration;
        config.renew_deadline = self.renew_deadline;
        config.retry_period = self.retry_period;
        Ok(Some(config))
    }
}

impl CollectArgs {
    /// The tenant rules these flags describe.
    ///
    /// # Errors
    ///
    /// An unreadable or malformed tenant map, naming file and line.
    pub fn tenant_rules(&self) -> anyhow::Result<TenantRules> {
        let mut rules = TenantRules::new(self.tenant_label.clone());
        rules.shared = self
            .shared_namespaces
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| Pattern::new(p))
            .collect();
        if let Some(path) = &self.tenant_map {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading tenant map {}", path.display()))?;
            rules.map = parse_tenant_map(&text, &path.display().to_string())?;
        }
        Ok(rules)
    }

    fn dataset(&self) -> anyhow::Result<Dataset> {
        if self.cluster_name.is_empty() || self.cluster_name.contains(['/', '=']) {
            bail!(
                "--cluster-name {:?}: must be non-empty without '/' or '='",
                self.cluster_name
            );
        }
        if self.writer_id.is_empty() || self.writer_id.contains(['/', '-']) {
            bail!(
                "--writer-id {:?}: must be non-empty without '/' or '-'",
                self.writer_id
            );
        }
        let target = crate::store::Target::parse(&self.out).context("--out")?;
        Ok(Dataset {
            target,
            cluster: self.cluster_name.clone(),
            writer: self.writer_id.clone(),
        })
    }
}

impl CollectArgs {
    fn wal_dir(&self) -> anyhow::Result<PathBuf> {
        match &self.wal_dir {
            Some(dir) => Ok(dir.clone()),
            None if self.out.contains("://") => bail!(
                "--out {}: an object store needs --wal-dir DIR for the write-ahead log of the open hours",
                self.out
            ),
            None => Ok(PathBuf::from(&self.out).join(crate::store::wal::DEFAULT_DIR)),
        }
    }
}

async fn client(args: &CollectArgs) -> anyhow::Result<kube::Client> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            let options = kube::config::KubeConfigOptions {
                context: args.context.clone(),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))?
        }
        None if args.context.is_some() => {
            let options = kube::config::KubeConfigOptions {
                context: args.context.clone(),
                ..Default::default()
            };
            kube::Config::from_kubeconfig(&options)
                .await
                .context("reading the kubeconfig")?
        }
        None => kube::Config::infer()
            .await
            .context("finding cluster credentials (in-cluster, $KUBECONFIG or ~/.kube/config)")?,
    };
    kube::Client::try_from(config).context("building the Kubernetes client")
}

/// Makes the process's TLS choice (kube links both ring and aws-lc-rs).
pub fn install_crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// JSON log lines on stderr; `RUST_LOG` overrides the default level.
/// (Filter targets match by prefix: `kube=warn` would also silence `kubetally`.)
pub fn init_logs(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_current_span(false)
        .try_init();
}

pub fn run(args: CollectArgs) -> anyhow::Result<ExitCode> {
    if args.interval.is_zero() {
        bail!("--interval: must be longer than zero");
    }
    let prices = Arc::new(args.pricing.build_billed(args.billing)?);
    let tenants = args.tenant_rules()?;
    let dataset = args.dataset()?;
    let config = CollectConfig {
        dataset,
        interval: args.interval,
        stop: StopAfter {
            samples: args.samples,
            duration: args.duration,
        },
        write_samples: !args.no_samples,
        tenants,
        prices,
        wal_dir: Some(args.wal_dir()?),
        leader: args.election.config()?,
        metrics_limits: Default::default(),
    };
    install_crypto();
    init_logs("info,kube_client=warn,kube_runtime=warn");
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let client = client(&args).await?;
        let collector = Collector::default();
        // Bind before collecting: a taken port fails at once, not later.
        let listener = match args.listen.0 {
            Some(addr) => Some(serve::bind(addr).await?),
            None => None,
        };
        let (stop_serving, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = listener.map(|listener| {
            let state = ServeState::new(
                &collector,
                config.prices.clone(),
                args.cluster_name.clone(),
                args.interval,
            );
            tokio::spawn(serve::serve(listener, state, async {
                let _ = stopped.await;
            }))
        });
        let summary = collector
            .run(client, &config, super::shutdown_signal())
            .await?;
        log_summary(&summary);
        let _ = stop_serving.send(());
        if let Some(server) = server {
            server.await.context("the HTTP server task")??;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Where to serve HTTP, if anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen(pub Option<std::net::SocketAddr>);

/// `HOST:PORT`, or `none`.
fn parse_listen(text: &str) -> Result<Listen, String> {
    if text == "none" {
        return Ok(Listen(None));
    }
    text.parse()
        .map(|addr| Listen(Some(addr)))
        .map_err(|_| format!("{text:?} is not HOST:PORT (for example 0.0.0.0:9090) or none"))
}

fn log_summary(summary: &Summary) {
    tracing::info!(
        hours = summary.hours_published,
        samples = summary.samples,
        node_cost_usd = summary.node_cost_usd,
        idle_cost_usd = summary.idle_cost_usd,
        "stopped; everything is published"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        election: ElectionFlags,
    }

    fn election(args: &[&str]) -> anyhow::Result<Option<LeaderConfig>> {
        let cli = Cli::try_parse_from(std::iter::once("kubetally").chain(args.iter().copied()))?;
        cli.election.config()
    }

    #[test]
    fn election_is_off_unless_asked_for() {
        assert_eq!(election(&[]).ok(), Some(None));
    }

    #[test]
    fn election_takes_names_and_timings_from_flags() {
        let config = election(&[
            "--leader-elect",
            "--lease-namespace",
            "ops",
            "--leader-identity",
            "pod-a",
            "--lease-duration",
            "30s",
        ])
        .ok()
        .flatten();
        let config = config.unwrap_or_else(|| panic!("no config"));
        assert_eq!(
            (config.namespace.as_str(), config.identity.as_str()),
            ("ops", "pod-a")
        );
        assert_eq!(config.lease_duration, std::time::Duration::from_secs(30));
        assert_eq!(config.renew_deadline, std::time::Duration::from_secs(10));
    }

    #[test]
    fn a_renew_deadline_not_below_the_lease_duration_is_refused() {
        let error = election(&[
            "--leader-elect",
            "--leader-identity",
            "a",
            "--renew-deadline",
            "20s",
        ])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(error.contains("--renew-deadline"), "{error}");
        let error = election(&["--leader-elect", "--retry-period", "soon"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("--retry-period"), "{error}");
    }
}
