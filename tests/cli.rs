//! What every subcommand of the binary shares: `--help` ends with examples,
//! and an error is one line that names each cause once.

use clap::CommandFactory;
use kubetally::cli::Cli;

use crate::query_cli::kubetally;

/// Every subcommand's path, nested ones included (`["recommend", "backtest"]`).
fn subcommand_paths(command: &clap::Command, parent: &[String], paths: &mut Vec<Vec<String>>) {
    for sub in command.get_subcommands() {
        let mut path = parent.to_vec();
        path.push(sub.get_name().to_owned());
        subcommand_paths(sub, &path, paths);
        paths.push(path);
    }
}

#[test]
fn every_subcommand_ends_its_help_with_examples() {
    let mut paths = Vec::new();
    subcommand_paths(&Cli::command(), &[], &mut paths);
    paths.retain(|path| path[0] != "help");
    assert!(
        paths.iter().any(|p| p == &["recommend", "backtest"]),
        "nested subcommands are walked: {paths:?}"
    );
    for path in paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let (code, out, err) = kubetally(&args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(out.contains("\nExamples:\n  "), "{args:?}: {out}");
    }
}

#[test]
fn a_missing_kubeconfig_is_one_error_line_naming_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("no-such-kubeconfig").display().to_string();
    let data = dir.path().join("data").display().to_string();
    let cause = match std::fs::read(&kubeconfig) {
        Ok(_) => panic!("{kubeconfig} exists"),
        Err(e) => e.to_string(),
    };
    let (code, out, err) = kubetally(&["collect", "--kubeconfig", &kubeconfig, "--out", &data]);
    assert_eq!(code, Some(2), "{err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with(&format!("error: reading kubeconfig {kubeconfig}: ")),
        "{err}"
    );
    assert_eq!(err.matches(&cause).count(), 1, "{cause:?} once: {err}");
}

#[test]
fn an_absurd_simulated_cluster_is_refused_in_one_line_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo").display().to_string();
    for args in [
        vec!["demo", "--pods", "1000000000", "--out", &out],
        vec![
            "sim",
            "serve",
            "--nodes",
            "999999",
            "--listen",
            "127.0.0.1:0",
        ],
        vec![
            "sim",
            "serve",
            "--claims",
            "50000000",
            "--listen",
            "127.0.0.1:0",
        ],
    ] {
        let (code, _, err) = kubetally(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("the simulator generates at most"), "{err}");
    }
    assert!(!dir.path().join("demo").exists(), "nothing written");
}
