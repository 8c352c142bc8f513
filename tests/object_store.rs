//! The dataset in object storage: an S3-compatible server (s3s over a
//! temporary directory) on 127.0.0.1, started by each test; object_store's
//! real S3 client with request signing talks to it over HTTP.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ::object_store::path::Path;
use ::object_store::{ObjectStore, ObjectStoreExt};
use arrow::array::{Array, Int64Array, NullArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{DateTime, TimeZone, Utc};
use hyper::service::Service;
use kubetally::store::schema::Table;
use kubetally::store::{Dataset, ObjectTarget, Target};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub(crate) const BUCKET: &str = "metering";
pub(crate) const ACCESS_KEY: &str = "kubetally-test";
pub(crate) const SECRET_KEY: &str = "kubetally-test-secret";

/// One request the server received: method and path (with query).
type Request = (String, String);

type Response = Pin<Box<dyn Future<Output = Result<s3s::HttpResponse, s3s::HttpError>> + Send>>;

/// An S3 server on a free loopback port, serving a temporary directory
/// whose folders are buckets; it stops with the test's runtime.
pub(crate) struct S3Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    /// PUTs still to answer with 503 Slow Down before serving them again.
    failing_puts: Arc<AtomicUsize>,
    _root: tempfile::TempDir,
}

impl S3Server {
    pub(crate) async fn start() -> S3Server {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let fs = s3s_fs::FileSystem::new(root.path()).unwrap_or_else(|e| panic!("{e:?}"));
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let failing_puts = Arc::new(AtomicUsize::new(0));
        let (log, failing) = (requests.clone(), failing_puts.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let service = service.clone();
                let (log, failing) = (log.clone(), failing.clone());
                let logged = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        let line = (
                            request.method().to_string(),
                            request
                                .uri()
                                .path_and_query()
                                .map(ToString::to_string)
                                .unwrap_or_default(),
                        );
                        if let Ok(mut log) = log.lock() {
                            log.push(line);
                        }
                        let fail = request.method() == http::Method::PUT
                            && failing
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                    n.checked_sub(1)
                                })
                                .is_ok();
                        let response: Response = if fail {
                            Box::pin(async {
                                let mut response = http::Response::new(s3s::Body::empty());
                                *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                                Ok(response)
                            })
                        } else {
                            Box::pin(Service::call(&service, request))
                        };
                        response
                    },
                );
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(socket);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, logged)
                        .await;
                });
            }
        });
        S3Server {
            addr,
            requests,
            failing_puts,
            _root: root,
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The directory served: each folder a bucket, each file an object.
    pub(crate) fn root(&self) -> &std::path::Path {
        self._root.path()
    }

    /// The settings a deployment would give as `AWS_*` variables.
    fn options(&self) -> Vec<(&'static str, String)> {
        vec![
            ("aws_endpoint", self.endpoint()),
            ("aws_allow_http", "true".into()),
            ("aws_access_key_id", ACCESS_KEY.into()),
            ("aws_secret_access_key", SECRET_KEY.into()),
            ("aws_region", "us-east-1".into()),
        ]
    }

    fn target(&self, url: &str) -> ObjectTarget {
        match Target::parse_with_options(url, self.options()) {
            Ok(Target::Object(object)) => object,
            other => panic!("{url}: {other:?}"),
        }
    }

    fn take_requests(&self) -> Vec<Request> {
        self.requests
            .lock()
            .map(|mut log| std::mem::take(&mut *log))
            .unwrap_or_default()
    }
}

/// Every object under `prefix`, sorted by key.
async fn keys(store: &Arc<dyn ObjectStore>, prefix: &str) -> Vec<String> {
    use futures_util::StreamExt;
    let prefix = Path::from(prefix);
    let mut keys: Vec<String> = store
        .list(Some(&prefix))
        .map(|meta| meta.unwrap().location.to_string())
        .collect()
        .await;
    keys.sort();
    keys
}

/// The rows of one Parquet object, decoded.
async fn read(store: &Arc<dyn ObjectStore>, key: &str) -> Vec<RecordBatch> {
    let bytes = store
        .get(&Path::from(key))
        .await
        .unwrap_or_else(|e| panic!("{key}: {e}"))
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("{key}: {e}"));
    ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|builder| builder.build())
        .unwrap_or_else(|e| panic!("{key}: {e}"))
        .map(|batch| batch.unwrap_or_else(|e| panic!("{key}: {e}")))
        .collect()
}

fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

static EVENTS: Table = Table {
    name: "events",
    grain: "one test row",
    columns: &[],
};

fn hour() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 13, 0, 0)
        .single()
        .unwrap_or_else(|| panic!("a valid hour"))
}

/// `rows` rows of an all-null column: cheap to encode however many.
fn nulls(rows: usize) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("gap", DataType::Null, true)]));
    RecordBatch::try_new(schema, vec![Arc::new(NullArray::new(rows))]).unwrap()
}

fn numbers(rows: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
    RecordBatch::try_new(
        schema,
        vec![Arc::new(Int64Array::from_iter_values(0..rows))],
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_hour_goes_up_as_one_put_per_file_and_a_smaller_republish_replaces_it() {
    let server = S3Server::start().await;
    let object = server.target(&format!("s3://{BUCKET}/warehouse/k8s"));
    let store = object.store().clone();
    let dataset = Dataset {
        target: Target::Object(object),
        cluster: "prod".into(),
        writer: "a".into(),
    };
    let partition = "warehouse/k8s/events/cluster=prod/date=2026-11-02";
    let file = |seq: usize| format!("{partition}/part-13-a-{seq:04}.parquet");

    // More rows than two files hold: three files.
    let rows = 2 * kubetally::store::dataset::ROWS_PER_FILE + 7;
    let written = dataset
        .publish(&EVENTS, hour(), &nulls(rows))
        .await
        .unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(
        written,
        (0..3)
            .map(|seq| format!("s3://{BUCKET}/{}", file(seq)))
            .collect::<Vec<_>>()
    );
    assert_eq!(keys(&store, partition).await, [file(0), file(1), file(2)]);
    let mut read_back = 0;
    for seq in 0..3 {
        read_back += row_count(&read(&store, &file(seq)).await);
    }
    assert_eq!(read_back, rows);
    // Each file was one plain PUT: no multipart upload, no copy, no rename.
    let requests = server.take_requests();
    let puts: Vec<_> = requests.iter().filter(|(m, _)| m == "PUT").collect();
    assert_eq!(puts.len(), 3, "{requests:?}");
    assert!(
        requests
            .iter()
            .all(|(m, path)| (m == "PUT" || m == "GET") && !path.contains("upload")),
        "{requests:?}"
    );

    // Another writer's file of the same hour is not ours to remove.
    store
        .put(
            &Path::from(format!("{partition}/part-13-b-0001.parquet")),
            b"not ours".to_vec().into(),
        )
        .await
        .unwrap();

    // The hour again, smaller (a retry after the partial hour, say): one file,
    // the same first name, and the two left over are gone.
    let written = dataset
        .publish(&EVENTS, hour(), &numbers(10))
        .await
        .unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(written.len(), 1);
    assert_eq!(
        keys(&store, partition).await,
        [file(0), format!("{partition}/part-13-b-0001.parquet")]
    );
    let batches = read(&store, &file(0)).await;
    assert_eq!(row_count(&batches), 10);
    let column = batches[0].column(0);
    assert_eq!(column.data_type(), &DataType::Int64);
    assert_eq!(column.len(), 10);

    // Publishing the same hour once more changes nothing: idempotent.
    dataset
        .publish(&EVENTS, hour(), &numbers(10))
        .await
        .unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(keys(&store, partition).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_at_its_root_works_without_a_prefix() {
    let server = S3Server::start().await;
    let object = server.target(&format!("s3://{BUCKET}"));
    let store = object.store().clone();
    let dataset = Dataset {
        target: Target::Object(object),
        cluster: "c".into(),
        writer: "0".into(),
    };
    assert_eq!(dataset.target.to_string(), format!("s3://{BUCKET}"));
    dataset
        .publish(&EVENTS, hour(), &numbers(3))
        .await
        .unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(
        keys(&store, "events").await,
        ["events/cluster=c/date=2026-11-02/part-13-0-0000.parquet"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_upload_fails_the_publish_naming_the_file() {
    let server = S3Server::start().await;
    let mut options = server.options();
    options.retain(|(key, _)| *key != "aws_secret_access_key");
    options.push(("aws_secret_access_key", "wrong".into()));
    let target = Target::parse_with_options(&format!("s3://{BUCKET}/p"), options).unwrap();
    let dataset = Dataset {
        target,
        cluster: "c".into(),
        writer: "0".into(),
    };
    let error = dataset
        .publish(&EVENTS, hour(), &numbers(3))
        .await
        .err()
        .unwrap_or_else(|| panic!("published with a wrong secret key"));
    let message = error.to_string();
    let file = format!("s3://{BUCKET}/p/events/cluster=c/date=2026-11-02/part-13-0-0000.parquet");
    assert!(
        message.starts_with(&format!("uploading {file}: ")),
        "{message}"
    );
    assert!(message.contains("403"), "the server's answer: {message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    // A refusal (403) is not retried: one request.
    assert_eq!(server.take_requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_put_the_server_turns_away_is_retried_with_backoff() {
    let server = S3Server::start().await;
    let object = server.target(&format!("s3://{BUCKET}/p"));
    let store = object.store().clone();
    let dataset = Dataset {
        target: Target::Object(object),
        cluster: "c".into(),
        writer: "0".into(),
    };
    server.failing_puts.store(2, Ordering::SeqCst);
    dataset
        .publish(&EVENTS, hour(), &numbers(5))
        .await
        .unwrap_or_else(|e| panic!("{e:#?}"));
    let puts = server
        .take_requests()
        .into_iter()
        .filter(|(method, _)| method == "PUT")
        .count();
    assert_eq!(puts, 3, "two 503s, then the PUT that landed");
    let key = "p/events/cluster=c/date=2026-11-02/part-13-0-0000.parquet";
    assert_eq!(row_count(&read(&store, key).await), 5);
}

/// `kubetally collect` with `env` set and `args` after `collect`.
fn kubetally(env: &[(&str, String)], args: &[&str]) -> std::process::Command {
    let mut command = with_cloud_env(env);
    command.arg("collect").args(args);
    command
}

/// `kubetally` with only `env` of the cloud settings: none of the
/// machine's credentials.
fn with_cloud_env(env: &[(&str, String)]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_kubetally"));
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") || key.starts_with("GOOGLE_") || key.starts_with("AZURE_") {
            command.env_remove(key);
        }
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

#[test]
fn a_bad_url_is_one_error_line_naming_it() {
    for (url, expected) in [
        (
            "s3:///metering",
            "error: --out: s3:///metering: no bucket or container name (expected s3://BUCKET/PREFIX)",
        ),
        (
            "ftp://host/data",
            "error: --out: ftp://host/data: unknown scheme ftp://",
        ),
        (
            "gs://bu cket/data",
            "error: --out: gs://bu cket/data: not a valid URL",
        ),
    ] {
        let output = kubetally(&[], &["--out", url]).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{url}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{url}: {stderr}");
        assert!(stderr.starts_with(expected), "{url}: {stderr}");
    }
}

/// The whole collector, configured as in a pod: `--out s3://…` and the
/// endpoint and credentials in `AWS_*` variables.
#[tokio::test(flavor = "multi_thread")]
async fn the_collector_publishes_a_simulated_cluster_to_s3() {
    let server = S3Server::start().await;
    let cluster = kubetally::sim::SimServer::start(
        &kubetally::sim::SimConfig {
            speed: 600.0,
            ..kubetally::sim::SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, cluster.kubeconfig()).unwrap();
    let wal = dir.path().join("wal");
    let env = [
        ("AWS_ENDPOINT_URL", server.endpoint()),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
        ("AWS_REGION", "us-east-1".into()),
    ];
    let out = format!("s3://{BUCKET}/kubetally");
    let mut command = kubetally(
        &env,
        &[
            "--kubeconfig",
            &kubeconfig.to_string_lossy(),
            "--out",
            &out,
            "--wal-dir",
            &wal.to_string_lossy(),
            "--cluster-name",
            "sim",
            "--interval",
            "100ms",
            "--duration",
            "10m",
        ],
    );
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    cluster.stop().await.unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let store = server.target(&out).store().clone();
    let date = kubetally::sim::epoch().format("%Y-%m-%d");
    for table in ["allocation", "nodes", "samples"] {
        let partition = format!("kubetally/{table}/cluster=sim/date={date}");
        let keys = keys(&store, &format!("kubetally/{table}")).await;
        assert_eq!(
            keys,
            [format!("{partition}/part-00-0-0000.parquet")],
            "{table}"
        );
        let batches = read(&store, &keys[0]).await;
        assert!(row_count(&batches) > 0, "{table} has no rows");
    }
}

/// `kubetally reconcile --bill s3://…`: the bill is read from the bucket
/// like a local file; a missing object is one error line naming it.
#[tokio::test(flavor = "multi_thread")]
async fn a_bill_in_a_bucket_reconciles_like_a_local_file() {
    let server = S3Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    crate::support::small_demo(&data);
    let local = dir.path().join("bill.csv");
    crate::support::kubetally([
        "sim".as_ref(),
        "bill".as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
        "--format".as_ref(),
        "gcp".as_ref(),
        "-o".as_ref(),
        local.as_os_str(),
    ]);
    let folder = server.root().join(BUCKET).join("bills");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(&local, folder.join("2026-11.csv")).unwrap();
    let env = [
        ("AWS_ENDPOINT_URL", server.endpoint()),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
        ("AWS_REGION", "us-east-1".into()),
    ];
    let run = |url: String| {
        let mut command = with_cloud_env(&env);
        command
            .arg("reconcile")
            .arg("--data")
            .arg(&data)
            .args(["--bill", &url]);
        async move {
            tokio::task::spawn_blocking(move || command.output())
                .await
                .unwrap()
                .unwrap()
        }
    };
    let url = format!("s3://{BUCKET}/bills/2026-11.csv");
    let output = run(url.clone()).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(&format!("{url}  gcp")), "{stdout}");
    assert!(stdout.contains("Wrote"), "{stdout}");

    let missing = format!("s3://{BUCKET}/bills/2026-12.csv");
    let output = run(missing.clone()).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("--bill {missing}")), "{stderr}");
}
