//! Helpers the integration tests share: an in-process simulated cluster on a
//! free port, kube clients pointed at it, and the real binary.

use kubetally::sim::{SimConfig, SimServer};

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap_or_else(|error| panic!("runtime: {error}"))
}

pub async fn start(config: &SimConfig) -> SimServer {
    let listen = "127.0.0.1:0".parse().unwrap();
    SimServer::start(config, listen).await.unwrap()
}

pub fn kube_config(server: &SimServer) -> kube::Config {
    // kube pulls both ring and aws-lc-rs: the process must pick one.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let url = server.url().parse().unwrap();
    kube::Config::new(url)
}

/// The default client: it retries 429, 503 and 504 itself, honouring Retry-After.
pub fn client(server: &SimServer) -> kube::Client {
    kube::Client::try_from(kube_config(server)).unwrap()
}

pub async fn stop(server: SimServer) {
    server.stop().await.unwrap();
}

/// A reflector on `api` running in its own task, returned once its first
/// list is in; stream errors are dropped (the watcher recovers by itself).
pub async fn synced_reflector<K>(
    api: kube::Api<K>,
    config: kube::runtime::watcher::Config,
) -> (
    kube::runtime::reflector::Store<K>,
    tokio::task::JoinHandle<()>,
)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    use futures_util::StreamExt;
    use kube::runtime::{WatchStreamExt, reflector, watcher};
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(api, config))
        .applied_objects()
        .boxed();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    reader.wait_until_ready().await.unwrap();
    (reader, task)
}

/// Runs the real `kubetally` binary with `args`; its stdout, or a panic
/// with its stderr when it fails.
pub fn kubetally<I, S>(args: I) -> Vec<u8>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kubetally"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// The small fast-clock demo the determinism and KRR tests share: three
/// simulated hours of a 6-node cluster, seed 5, into `out`; what it printed.
pub fn small_demo(out: &std::path::Path) -> String {
    let mut args: Vec<std::ffi::OsString> = [
        "demo", "--hours", "3", "--nodes", "6", "--pods", "60", "--seed", "5", "--out",
    ]
    .iter()
    .map(Into::into)
    .collect();
    args.push(out.into());
    String::from_utf8_lossy(&kubetally(args)).into_owned()
}
