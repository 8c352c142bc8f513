//! What every subcommand of the binary shares: an error is one line that
//! names each cause once.

use crate::query_cli::kubetally;

#[test]
fn a_missing_kubeconfig_is_one_error_line_naming_its_cause_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
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
