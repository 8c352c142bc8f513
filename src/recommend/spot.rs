//! Spot / preemptible eligibility of a workload: every check of
//! `shared/reference/recommenders.md` §4.2 (S1–S11) named, with its verdict
//! and the reason, plus two kubetally adds the anchors lack: restarts the
//! workload already tolerates, and how long its pods take to start against
//! the provider's notice. A workload is eligible when no check fails; a
//! check without the facts it needs says so ("unknown") rather than
//! guessing, and does not block.

use std::fmt;

/// What the checks read about a workload (from the `workloads` and
/// `allocation` tables).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkloadFacts {
    pub namespace: String,
    /// Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, Pod.
    pub kind: String,
    pub replicas: Option<i32>,
    pub hpa_min_replicas: Option<i32>,
    pub has_pdb: bool,
    pub pdb_disruptions_allowed: Option<i32>,
    /// Resolved `maxUnavailable` of a Deployment's rolling update, if known.
    pub max_unavailable: Option<i32>,
    pub termination_grace_seconds: i64,
    pub volume_kinds: Vec<String>,
    pub annotations: Vec<(String, String)>,
    pub node_selector: Vec<(String, String)>,
    pub tolerations: Vec<String>,
    pub priority_class: String,
    /// Jobs: `backoffLimit`, and the longest run seen.
    pub job_backoff_limit: Option<i32>,
    pub job_longest_run_seconds: Option<f64>,
    /// Restarts per pod-day observed over the window (OOM kills excluded).
    pub restarts_per_pod_day: Option<f64>,
    /// Seconds from pod start to ready, the slowest seen.
    pub startup_seconds: Option<f64>,
}

/// The cloud whose spot capacity the workload would run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpotRules {
    Gke,
    Aws,
    Azure,
}

impl SpotRules {
    /// Seconds from the interruption notice to the VM's end.
    pub fn notice_seconds(self) -> i64 {
        match self {
            SpotRules::Gke | SpotRules::Azure => 30,
            SpotRules::Aws => 120,
        }
    }

    /// The longest termination grace the provider honours for a workload
    /// pod (GKE: 15 s for non-system pods; the others: the notice).
    pub fn effective_grace_seconds(self) -> i64 {
        match self {
            SpotRules::Gke => 15,
            other => other.notice_seconds(),
        }
    }

    /// The node label a spot workload selects, and the taint it tolerates.
    pub fn spot_label(self) -> (&'static str, &'static str) {
        match self {
            SpotRules::Gke => ("cloud.google.com/gke-spot", "true"),
            SpotRules::Aws => ("eks.amazonaws.com/capacityType", "SPOT"),
            SpotRules::Azure => ("kubernetes.azure.com/scalesetpriority", "spot"),
        }
    }
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// The facts it needs were not collected.
    Unknown,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Unknown => "unknown",
        })
    }
}

/// One named check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub id: &'static str,
    pub name: &'static str,
    pub verdict: Verdict,
    pub reason: String,
}

/// Every check, and the change to make when it is eligible.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub checks: Vec<Check>,
    pub eligible: bool,
    /// `nodeSelector` and toleration for the provider's spot nodes.
    pub change: Option<String>,
}

const OPT_OUT: [(&str, &str); 4] = [
    ("cluster-autoscaler.kubernetes.io/safe-to-evict", "false"),
    ("karpenter.sh/do-not-disrupt", "true"),
    ("autoscaling.cast.ai/removal-disabled", "true"),
    ("spotinst.io/restrict-scale-down", "true"),
];
const SPOT_SELECTORS: [(&str, &str); 5] = [
    ("cloud.google.com/gke-spot", "true"),
    ("cloud.google.com/gke-preemptible", "true"),
    ("karpenter.sh/capacity-type", "spot"),
    ("eks.amazonaws.com/capacityType", "SPOT"),
    ("kubernetes.azure.com/scalesetpriority", "spot"),
];
/// A Job shorter than this is cheap to rerun after an interruption.
const SHORT_JOB_SECONDS: f64 = 3600.0;
/// More restarts than this per pod-day: it already lives with interruptions.
const TOLERATED_RESTARTS_PER_POD_DAY: f64 = 1.0;

fn check(id: &'static str, name: &'static str, verdict: Verdict, reason: String) -> Check {
    Check {
        id,
        name,
        verdict,
        reason,
    }
}

/// One check: what it reads of the workload and the provider, its verdict.
type Rule = fn(&WorkloadFacts, SpotRules) -> Check;

/// Every check, in the order they are reported.
const CHECKS: [Rule; 13] = [
    controller_kind,
    replicas,
    local_storage,
    disruption_budget,
    rolling_update_headroom,
    termination_grace,
    opt_out_annotations,
    already_on_spot,
    jobs_retry_or_are_short,
    singleton_or_quorum,
    system_critical,
    observed_restart_tolerance,
    startup_within_notice,
];

/// Runs every check on `facts` for `provider`'s spot capacity.
pub fn assess(facts: &WorkloadFacts, provider: SpotRules) -> Assessment {
    let checks: Vec<Check> = CHECKS.iter().map(|rule| rule(facts, provider)).collect();
    let eligible = !selects_spot(facts) && checks.iter().all(|c| c.verdict != Verdict::Fail);
    let change = eligible.then(|| {
        let (label, value) = provider.spot_label();
        format!(
            "add to the pod template nodeSelector {label}={value} and the toleration {label}={value}:NoSchedule"
        )
    });
    Assessment {
        checks,
        eligible,
        change,
    }
}

impl WorkloadFacts {
    fn is_job(&self) -> bool {
        matches!(self.kind.as_str(), "Job" | "CronJob")
    }

    /// The replicas it keeps at the least: the HPA's minimum, else its count.
    fn least_replicas(&self) -> Option<i32> {
        self.hpa_min_replicas.or(self.replicas)
    }
}

/// Whether its `nodeSelector` already picks spot nodes.
fn selects_spot(facts: &WorkloadFacts) -> bool {
    facts
        .node_selector
        .iter()
        .any(|(k, v)| SPOT_SELECTORS.iter().any(|(sk, sv)| k == sk && v == sv))
}

/// S1: a controller recreates its pods elsewhere.
fn controller_kind(facts: &WorkloadFacts, _: SpotRules) -> Check {
    let kind = facts.kind.as_str();
    let (verdict, reason) = match kind {
        "Deployment" | "ReplicaSet" | "Job" | "CronJob" => {
            (Verdict::Pass, format!("{kind}: replaced by its controller"))
        }
        "StatefulSet" => (
            Verdict::Fail,
            "StatefulSet: stable identity and storage; not moved by default".into(),
        ),
        "DaemonSet" => (
            Verdict::Fail,
            "DaemonSet: runs wherever its nodes run".into(),
        ),
        _ => (Verdict::Fail, format!("{kind}: no controller recreates it")),
    };
    check("S1", "controller kind", verdict, reason)
}

/// S2: one interruption is not an outage (Jobs are judged by S9).
fn replicas(facts: &WorkloadFacts, _: SpotRules) -> Check {
    let (verdict, reason) = if facts.is_job() {
        (Verdict::Pass, "Jobs are judged by S9".into())
    } else {
        match facts.least_replicas() {
            Some(n) if n >= 2 => (
                Verdict::Pass,
                format!("{n} replicas (HPA minimum where there is one)"),
            ),
            Some(n) => (
                Verdict::Fail,
                format!("{n} replica: an interruption is an outage"),
            ),
            None => (Verdict::Unknown, "replica count not known".into()),
        }
    };
    check("S2", "replicas", verdict, reason)
}

/// S3: no volume is lost or stranded with a reclaimed node.
fn local_storage(facts: &WorkloadFacts, _: SpotRules) -> Check {
    let local: Vec<&str> = facts
        .volume_kinds
        .iter()
        .map(String::as_str)
        .filter(|k| {
            matches!(
                *k,
                "emptyDir" | "hostPath" | "local" | "persistentVolumeClaim"
            )
        })
        .collect();
    let (verdict, reason) = if local.is_empty() {
        (
            Verdict::Pass,
            "no emptyDir, hostPath, local volume or PVC".into(),
        )
    } else {
        (
            Verdict::Fail,
            format!(
                "volumes lost or stranded on a reclaimed node: {}",
                local.join(", ")
            ),
        )
    };
    check("S3", "local or writable storage", verdict, reason)
}

/// S4: no PodDisruptionBudget stalls the drain before a reclaim.
fn disruption_budget(facts: &WorkloadFacts, _: SpotRules) -> Check {
    let (verdict, reason) = match (facts.has_pdb, facts.pdb_disruptions_allowed) {
        (false, _) => (
            Verdict::Pass,
            "no PDB blocks draining (note: no PDB protects against the reclaim itself)".into(),
        ),
        (true, Some(n)) if n >= 1 => (Verdict::Pass, format!("PDB allows {n} disruption(s)")),
        (true, Some(_)) => (
            Verdict::Fail,
            "PDB allows no disruption: drains before reclaims stall".into(),
        ),
        (true, None) => (Verdict::Unknown, "PDB status not known".into()),
    };
    check("S4", "disruption budget", verdict, reason)
}

/// S5: a Deployment's rolling update leaves room to lose a node.
fn rolling_update_headroom(facts: &WorkloadFacts, _: SpotRules) -> Check {
    let kind = facts.kind.as_str();
    let (verdict, reason) = match (kind, facts.max_unavailable, facts.least_replicas()) {
        ("Deployment", Some(unavailable), Some(n)) if n > 0 => {
            let ratio = f64::from(n - unavailable) / f64::from(n);
            let verdict = if ratio <= 0.9 {
                Verdict::Pass
            } else {
                Verdict::Fail
            };
            (
                verdict,
                format!("(replicas − maxUnavailable) / replicas = {ratio:.2} (≤ 0.90 passes)"),
            )
        }
        ("Deployment", _, _) => (
            Verdict::Unknown,
            "rolling update settings not collected".into(),
        ),
        _ => (
            Verdict::Pass,
            format!("{kind}: no rolling update to protect"),
        ),
    };
    check("S5", "rolling update headroom", verdict, reason)
}

/// S6: the termination grace fits the provider's notice.
///
/// Within the notice passes (issue #7: "termination grace within the
/// provider's notice"); GKE cuts a workload pod's shutdown at 15 s of the
/// 30, which the reason says when it applies.
fn termination_grace(facts: &WorkloadFacts, provider: SpotRules) -> Check {
    let grace = facts.termination_grace_seconds;
    let notice = provider.notice_seconds();
    let effective = provider.effective_grace_seconds();
    let (verdict, reason) = if grace > notice {
        (
            Verdict::Fail,
            format!(
                "{grace} s asked, the VM is gone {notice} s after the notice: shutdown is cut short"
            ),
        )
    } else if grace > effective {
        (
            Verdict::Pass,
            format!(
                "{grace} s fits the {notice} s notice; GKE gives workload pods {effective} s of it"
            ),
        )
    } else {
        (
            Verdict::Pass,
            format!("{grace} s fits the {effective} s the provider gives"),
        )
    };
    check("S6", "termination grace", verdict, reason)
}

/// S7: no annotation asks autoscalers not to disrupt it.
fn opt_out_annotations(facts: &WorkloadFacts, _: SpotRules) -> Check {
    let opt_out: Vec<String> = facts
        .annotations
        .iter()
        .filter(|(k, v)| OPT_OUT.iter().any(|(ok, ov)| k == ok && v == ov))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let (verdict, reason) = if opt_out.is_empty() {
        (Verdict::Pass, "none".into())
    } else {
        (
            Verdict::Fail,
            format!("asks not to be disrupted: {}", opt_out.join(", ")),
        )
    };
    check("S7", "opt-out annotations", verdict, reason)
}

/// S8: says whether it already runs on spot (which [`assess`] does not
/// recommend again); never fails.
fn already_on_spot(facts: &WorkloadFacts, _: SpotRules) -> Check {
    let reason = if selects_spot(facts) {
        "already selects spot nodes: nothing to change"
    } else {
        "runs on on-demand capacity"
    };
    check("S8", "already on spot", Verdict::Pass, reason.into())
}

/// S9: an interrupted Job is retried, and its runs are short enough to redo.
fn jobs_retry_or_are_short(facts: &WorkloadFacts, _: SpotRules) -> Check {
    let (verdict, reason) = if !facts.is_job() {
        (Verdict::Pass, "not a Job".into())
    } else {
        match (facts.job_backoff_limit, facts.job_longest_run_seconds) {
            (Some(0), _) => (
                Verdict::Fail,
                "backoffLimit 0: an interrupted run is a failed Job".into(),
            ),
            (_, Some(run)) if run <= SHORT_JOB_SECONDS => (
                Verdict::Pass,
                format!("runs last at most {run:.0} s: cheap to rerun"),
            ),
            (_, Some(run)) => (
                Verdict::Fail,
                format!("runs of {run:.0} s lose up to that much work without checkpoints"),
            ),
            (_, None) => (Verdict::Unknown, "run times not known".into()),
        }
    };
    check("S9", "jobs retry or are short", verdict, reason)
}

/// S10: no PDB demands every replica (a leader or quorum member).
fn singleton_or_quorum(facts: &WorkloadFacts, _: SpotRules) -> Check {
    let strict = facts.has_pdb
        && facts.pdb_disruptions_allowed == Some(0)
        && facts.least_replicas().is_some_and(|n| n >= 1);
    let (verdict, reason) = if strict {
        (
            Verdict::Fail,
            "a PDB keeps every replica up: a leader or quorum member",
        )
    } else {
        (Verdict::Pass, "no PDB demands every replica")
    };
    check("S10", "singleton or quorum", verdict, reason.into())
}

/// S11: system workloads stay on on-demand capacity.
fn system_critical(facts: &WorkloadFacts, _: SpotRules) -> Check {
    let critical = facts.namespace == "kube-system"
        || matches!(
            facts.priority_class.as_str(),
            "system-cluster-critical" | "system-node-critical"
        );
    let (verdict, reason) = if critical {
        (
            Verdict::Fail,
            format!(
                "{} / priority {:?}: stays on on-demand",
                facts.namespace, facts.priority_class
            ),
        )
    } else {
        (Verdict::Pass, "not a system workload".into())
    };
    check("S11", "system-critical", verdict, reason)
}

/// K1: the restarts it already lives with; informs, never fails.
fn observed_restart_tolerance(facts: &WorkloadFacts, _: SpotRules) -> Check {
    let (verdict, reason) = match facts.restarts_per_pod_day {
        Some(r) if r >= TOLERATED_RESTARTS_PER_POD_DAY => (
            Verdict::Pass,
            format!("already restarts {r:.1} times a pod-day and keeps serving"),
        ),
        Some(r) => (
            Verdict::Pass,
            format!("{r:.2} restarts a pod-day: interruptions will be new to it"),
        ),
        None => (Verdict::Unknown, "restarts not known".into()),
    };
    check("K1", "observed restart tolerance", verdict, reason)
}

/// K2: a replacement pod is ready within the provider's notice.
fn startup_within_notice(facts: &WorkloadFacts, provider: SpotRules) -> Check {
    let notice = provider.notice_seconds();
    let (verdict, reason) = match facts.startup_seconds {
        Some(s) if s <= notice as f64 => (
            Verdict::Pass,
            format!("ready in {s:.0} s, within the {notice} s notice"),
        ),
        Some(s) => (
            Verdict::Fail,
            format!("{s:.0} s to ready, {notice} s of notice: a replacement comes late"),
        ),
        None => (Verdict::Unknown, "startup time not collected".into()),
    };
    check("K2", "startup within the notice", verdict, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> WorkloadFacts {
        WorkloadFacts {
            namespace: "shop".into(),
            kind: "Deployment".into(),
            replicas: Some(4),
            max_unavailable: Some(1),
            termination_grace_seconds: 10,
            restarts_per_pod_day: Some(0.0),
            startup_seconds: Some(8.0),
            ..WorkloadFacts::default()
        }
    }

    fn verdict(facts: &WorkloadFacts, id: &str) -> Verdict {
        assess(facts, SpotRules::Gke)
            .checks
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.verdict)
            .unwrap_or_else(|| panic!("no check {id}"))
    }

    #[test]
    fn a_replicated_stateless_deployment_is_eligible_with_the_change_to_make() {
        let assessment = assess(&web(), SpotRules::Gke);
        assert!(assessment.eligible, "{:?}", assessment.checks);
        assert_eq!(assessment.checks.len(), 13);
        let change = assessment.change.unwrap_or_default();
        assert!(change.contains("cloud.google.com/gke-spot"), "{change}");
    }

    #[test]
    fn each_check_fails_on_the_workload_it_is_for() {
        type Mutation = Box<dyn Fn(&mut WorkloadFacts)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("S1", Box::new(|f| f.kind = "StatefulSet".into())),
            ("S1", Box::new(|f| f.kind = "Pod".into())),
            ("S2", Box::new(|f| f.replicas = Some(1))),
            ("S3", Box::new(|f| f.volume_kinds = vec!["emptyDir".into()])),
            (
                "S4",
                Box::new(|f| {
                    f.has_pdb = true;
                    f.pdb_disruptions_allowed = Some(0);
                }),
            ),
            (
                "S5",
                Box::new(|f| {
                    f.replicas = Some(3);
                    f.max_unavailable = Some(0);
                }),
            ),
            ("S6", Box::new(|f| f.termination_grace_seconds = 60)),
            (
                "S7",
                Box::new(|f| {
                    f.annotations = vec![("karpenter.sh/do-not-disrupt".into(), "true".into())];
                }),
            ),
            (
                "S9",
                Box::new(|f| {
                    f.kind = "Job".into();
                    f.job_backoff_limit = Some(0);
                }),
            ),
            (
                "S9",
                Box::new(|f| {
                    f.kind = "CronJob".into();
                    f.job_backoff_limit = Some(6);
                    f.job_longest_run_seconds = Some(7200.0);
                }),
            ),
            (
                "S10",
                Box::new(|f| {
                    f.has_pdb = true;
                    f.pdb_disruptions_allowed = Some(0);
                }),
            ),
            ("S11", Box::new(|f| f.namespace = "kube-system".into())),
            (
                "S11",
                Box::new(|f| f.priority_class = "system-node-critical".into()),
            ),
            ("K2", Box::new(|f| f.startup_seconds = Some(90.0))),
        ];
        for (id, mutate) in cases {
            let mut facts = web();
            mutate(&mut facts);
            assert_eq!(verdict(&facts, id), Verdict::Fail, "{id}: {facts:?}");
            assert!(!assess(&facts, SpotRules::Gke).eligible, "{id}");
        }
    }

    #[test]
    fn termination_grace_names_gkes_cut_only_when_it_bites() {
        let mut facts = web();
        facts.termination_grace_seconds = 20;
        let gke = termination_grace(&facts, SpotRules::Gke);
        assert_eq!(gke.verdict, Verdict::Pass);
        assert!(
            gke.reason.contains("GKE gives workload pods 15 s"),
            "{gke:?}"
        );
        let aws = termination_grace(&facts, SpotRules::Aws);
        assert_eq!(aws.verdict, Verdict::Pass);
        assert!(aws.reason.contains("fits the 120 s"), "{aws:?}");
        facts.termination_grace_seconds = 31;
        assert_eq!(
            termination_grace(&facts, SpotRules::Gke).verdict,
            Verdict::Fail
        );
    }

    #[test]
    fn checks_are_reported_in_order_with_unique_ids() {
        let ids: Vec<&str> = assess(&web(), SpotRules::Gke)
            .checks
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(
            ids,
            [
                "S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10", "S11", "K1", "K2"
            ]
        );
    }

    #[test]
    fn missing_facts_are_unknown_and_do_not_block() {
        let mut facts = web();
        facts.max_unavailable = None;
        facts.startup_seconds = None;
        assert_eq!(verdict(&facts, "S5"), Verdict::Unknown);
        assert_eq!(verdict(&facts, "K2"), Verdict::Unknown);
        assert!(assess(&facts, SpotRules::Gke).eligible);
    }

    #[test]
    fn provider_notice_decides_grace_and_startup() {
        let mut facts = web();
        facts.termination_grace_seconds = 30;
        assert_eq!(
            verdict(&facts, "S6"),
            Verdict::Pass,
            "the Kubernetes default fits GKE's notice"
        );
        facts.termination_grace_seconds = 60;
        facts.startup_seconds = Some(90.0);
        assert!(!assess(&facts, SpotRules::Gke).eligible);
        let aws = assess(&facts, SpotRules::Aws);
        assert!(aws.eligible, "{:?}", aws.checks);
        assert!(
            aws.change
                .unwrap_or_default()
                .contains("eks.amazonaws.com/capacityType")
        );
    }

    #[test]
    fn a_short_retrying_job_is_eligible_and_a_workload_on_spot_needs_no_change() {
        let mut job = web();
        job.kind = "CronJob".into();
        job.replicas = None;
        job.job_backoff_limit = Some(3);
        job.job_longest_run_seconds = Some(120.0);
        assert!(assess(&job, SpotRules::Gke).eligible);
        let mut on_spot = web();
        on_spot.node_selector = vec![("cloud.google.com/gke-spot".into(), "true".into())];
        let assessment = assess(&on_spot, SpotRules::Gke);
        assert!(!assessment.eligible);
        assert!(assessment.change.is_none());
    }
}
