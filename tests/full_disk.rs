//! A full disk under the write-ahead log and the dataset (issue 22, item 2):
//! a real small file system (tmpfs, mounted by the test) is filled to the
//! last block while the collector runs, then freed. The collector must log
//! one error an episode, keep sampling, answer `/readyz` not ready with the
//! path, publish every hour once space returns, and never leave a half file
//! where readers look.
//!
//! Mounting needs CAP_SYS_ADMIN (root in our CI container); where `mount`
//! is refused the tests print SKIP with the reason and pass.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Duration;
use kubetally::allocate::{Sample, SampleContext, TenantRules};
use kubetally::collect::{Collector, Stats};
use kubetally::serve::{NotReady, ServeState};
use kubetally::store::wal::{TickLog, Wal};

use crate::collect::{
    Row, assert_bill_adds_up, assert_close, collect_config, number, price_book, read, rows,
    scenario_config,
};
use crate::support::{start, stop};

/// A tmpfs of `size` mounted on a temporary folder, unmounted on drop.
struct SmallDisk {
    mount: tempfile::TempDir,
}

impl SmallDisk {
    /// The mounted file system, or why it could not be mounted.
    fn mount(size: &str) -> Result<SmallDisk, String> {
        let mount = tempfile::tempdir().map_err(|e| e.to_string())?;
        let output = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(mount.path())
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount -t tmpfs refused: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(SmallDisk { mount })
    }

    fn path(&self) -> &Path {
        self.mount.path()
    }

    /// Writes a file until the file system has no block left; returns it.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0_u8; 4096];
        loop {
            match file.write_all(&block) {
                Ok(()) => {}
                Err(error) if error.raw_os_error() == Some(28) => break,
                Err(error) => panic!("filling {}: {error}", filler.display()),
            }
        }
        // ENOSPC may have left a part of a block: write byte by byte.
        while file.write_all(&[0]).is_ok() {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.mount.path())
            .status();
    }
}

/// The disk, or a printed SKIP.
fn small_disk(test: &str) -> Option<SmallDisk> {
    match SmallDisk::mount("4m") {
        Ok(disk) => Some(disk),
        Err(reason) => {
            println!("SKIP {test}: {reason}");
            None
        }
    }
}

fn sample(minute: i64) -> Sample {
    Sample {
        ts: kubetally::sim::epoch() + Duration::minutes(minute),
        window_seconds: 30.0,
        context: Arc::new(SampleContext {
            namespace: "shop".into(),
            pod: "api-1".into(),
            pod_uid: "uid-1".into(),
            container: "app".into(),
            node: "n1".into(),
            workload_kind: "Deployment".into(),
            workload_name: "api".into(),
            tenant: "acme".into(),
            cpu_request_cores: Some(0.5),
            cpu_limit_cores: None,
            memory_request_bytes: Some(1 << 30),
            memory_limit_bytes: None,
        }),
        cpu_usage_millicores: 250,
        memory_usage_bytes: 1 << 20,
    }
}

/// `samples` samples at `minute`; 300 make a batch of more than a block,
/// so it cannot fit in what the last block of a file has left.
fn tick(minute: i64, samples: usize) -> TickLog {
    TickLog {
        samples: vec![sample(minute); samples],
        ..TickLog::default()
    }
}

fn logged_minutes(wal: &Wal) -> (Vec<i64>, Vec<PathBuf>) {
    let replay = wal.replay().unwrap();
    let minutes = replay
        .log
        .samples
        .iter()
        .map(|s| (s.ts - kubetally::sim::epoch()).num_minutes())
        .collect();
    (minutes, replay.truncated)
}

#[test]
fn a_tick_the_full_disk_refuses_leaves_no_torn_record_and_logs_whole_once_space_returns() {
    let Some(disk) = small_disk("full-disk write-ahead log test") else {
        return;
    };
    let mut wal = Wal::open(&disk.path().join("wal"), "c", "w").unwrap();
    wal.append(&tick(1, 1)).unwrap();
    let filler = disk.fill();

    let refused = wal.append(&tick(2, 300)).unwrap_err();
    assert!(
        refused.path().starts_with(disk.path()),
        "the error names the file: {refused:?}"
    );
    assert!(wal.append(&tick(3, 300)).is_err());
    // What a crash now would replay: the logged tick, and no torn record.
    assert_eq!(logged_minutes(&wal), (vec![1], vec![]));

    std::fs::remove_file(filler).unwrap();
    wal.append(&tick(2, 300)).unwrap();
    wal.append(&tick(3, 300)).unwrap();
    drop(wal);
    let wal = Wal::open(&disk.path().join("wal"), "c", "w").unwrap();
    let (minutes, truncated) = logged_minutes(&wal);
    assert_eq!(truncated, Vec::<PathBuf>::new());
    let count = |m| minutes.iter().filter(|&&x| x == m).count();
    assert_eq!(
        (count(1), count(2), count(3), minutes.len()),
        (1, 300, 300, 601),
        "each tick once: {minutes:?}"
    );
}

/// Every file under `dir` whose name says it is a temporary one.
fn temporary_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".tmp") {
                found.push(path);
            }
        }
    }
    found
}

/// Simulated minutes since the epoch on `sim`'s clock.
fn minute(sim: &kubetally::sim::Sim) -> i64 {
    (sim.clock.now() - kubetally::sim::epoch()).num_minutes()
}

async fn until_minute(sim: &kubetally::sim::Sim, at: i64) {
    while minute(sim) < at {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_costs_no_sample_and_no_hour_and_says_so_once() {
    let Some(disk) = small_disk("full-disk collector test") else {
        return;
    };
    let out = disk.path().join("data");
    let server = start(&scenario_config()).await;
    let collector = Arc::new(Collector::default());
    let mut config = collect_config(
        &out,
        price_book(),
        TenantRules::new(Some("tenant".into())),
        Duration::minutes(150),
    );
    config.write_samples = true;
    let serve = ServeState::new(&collector, config.prices.clone(), "test", config.interval);
    let run = {
        let collector = collector.clone();
        let client = crate::support::client(&server);
        tokio::spawn(async move {
            let summary = collector
                .run(client, &config, std::future::pending())
                .await
                .unwrap_or_else(|error| panic!("{error:#}"));
            (summary, config)
        })
    };
    let sim = server.sim.clone();

    // Full from minute 20 to minute 80: hour 0 closes (minute 61) while
    // nothing can be written.
    until_minute(&sim, 20).await;
    let filler = disk.fill();
    until_minute(&sim, 70).await;
    let not_ready = serve.readiness();
    let published_while_full = Stats::get(&collector.stats.hours_published);
    let failing = collector.stats.writes.failing();
    until_minute(&sim, 80).await;
    std::fs::remove_file(&filler).unwrap();
    until_minute(&sim, 95).await;
    let ready_again = serve.readiness();
    let (summary, _config) = run.await.unwrap();
    stop(server).await;

    match &not_ready {
        Err(NotReady::WriteFailing(reason)) => assert!(
            reason.contains(&disk.path().display().to_string()),
            "/readyz names the path: {reason}"
        ),
        other => panic!("not ready while the disk is full: {other:?}"),
    }
    assert!(failing.is_some());
    assert_eq!(published_while_full, 0, "nothing published while full");
    assert!(
        !matches!(ready_again, Err(NotReady::WriteFailing(_))),
        "ready again once space returns: {ready_again:?}"
    );
    // One error an episode: the log failed from minute 20 to 80, the dataset
    // from minute 61 to 80; neither is counted (nor logged) once a tick.
    assert_eq!(summary.errors.get("wal"), Some(&1), "{:?}", summary.errors);
    assert_eq!(
        summary.errors.get("publish"),
        Some(&1),
        "{:?}",
        summary.errors
    );
    assert!(summary.hours_published >= 2, "{summary:?}");
    assert_eq!(collector.stats.writes.failing(), None);

    // Every hour once, priced as a clean run prices it, and samples from
    // the whole time the disk was full.
    let allocation = rows(&read(&out, "allocation"));
    let hour_0: Vec<&Row> = allocation
        .iter()
        .filter(|r| r["start_time"] == "2026-11-02T00:00:00" && r["pod"] == "api-1")
        .collect();
    assert_eq!(hour_0.len(), 1, "hour 0 published once: {hour_0:?}");
    assert_close(number(hour_0[0], "total_cost_usd"), 0.028, "api cost");
    assert_close(number(hour_0[0], "running_seconds"), 3600.0, "api running");
    assert_bill_adds_up(&allocation, &rows(&read(&out, "nodes")));
    let full_minutes: std::collections::BTreeSet<i64> = rows(&read(&out, "samples"))
        .iter()
        .filter(|r| r["pod"] == "api-1")
        .filter_map(|r| {
            let ts = chrono::NaiveDateTime::parse_from_str(&r["ts"], "%Y-%m-%dT%H:%M:%S%.f")
                .ok()?
                .and_utc();
            Some((ts - kubetally::sim::epoch()).num_minutes())
        })
        .filter(|m| (25..75).contains(m))
        .collect();
    // A tick a simulated minute, on a quiet machine all 50; the bound
    // leaves room for a loaded one (as tests/collect_faults.rs does), and a
    // collector that dropped what it could not write would have none.
    assert!(
        full_minutes.len() >= 17,
        "samples taken while the disk was full are published: {} of 50 minutes ({full_minutes:?})",
        full_minutes.len()
    );
    assert_eq!(temporary_files(&out), Vec::<PathBuf>::new());
}
