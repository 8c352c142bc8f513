//! `kubetally sim serve`: the simulated cluster as a standalone server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::sim::{ClusterSpec, SimConfig, SimServer};

#[derive(Debug, Args)]
pub struct SimArgs {
    #[command(subcommand)]
    pub command: SimCommand,
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve a simulated cluster over the Kubernetes HTTP API until stopped.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
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
    /// Write a kubeconfig pointing at the server to this file.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig_out: Option<PathBuf>,
}

pub fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let SimCommand::Serve(serve) = args.command;
    if !(serve.speed.is_finite() && serve.speed > 0.0) {
        anyhow::bail!(
            "--speed {}: expected a positive number of simulated seconds per second",
            serve.speed
        );
    }
    let config = SimConfig {
        cluster: ClusterSpec {
            nodes: serve.nodes,
            pods: serve.pods,
            seed: serve.seed,
        },
        speed: serve.speed,
        ..SimConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let server = SimServer::start(&config, serve.listen).await?;
        if let Some(path) = &serve.kubeconfig_out {
            std::fs::write(path, server.kubeconfig())
                .with_context(|| format!("writing kubeconfig {}", path.display()))?;
        }
        eprintln!(
            "kubetally sim: serving {} nodes and {} pods at {} (seed {}, speed {}x); stop with Ctrl-C",
            serve.nodes,
            serve.pods,
            server.url(),
            serve.seed,
            serve.speed
        );
        shutdown_signal().await?;
        eprintln!("kubetally sim: stopping");
        server.stop().await.context("stopping the simulated API server")?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
