//! The cluster's life over simulated time: what the controllers and kubelet
//! of a real cluster do while the collector watches.
//!
//! CronJobs fire Jobs whose pods run for seconds to hours and finish (and
//! sometimes fail and retry); leaking containers are OOMKilled and restart;
//! Deployments roll out new ReplicaSets pod by pod; HPAs scale with the day.
//! Every change is a write to the store, so watches see ADDED, MODIFIED and
//! DELETED events stamped with simulated time, and every happening is drawn
//! from the seed, so a seed reproduces the same week.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::cluster::{ClusterModel, PodModel, Rng, UsageProfile, epoch};
use super::metrics::day_level;
use super::objects::{
    Owner, PodIdentity, PodTemplate, controller, hpa, record_finished, record_oom_kill,
    replica_status, timestamp,
};
use super::resources::{CRONJOBS, DEPLOYMENTS, HPAS, JOBS, PODS, REPLICASETS};
use super::scheduler::Scheduler;
use super::selector::{FieldSelector, LabelSelector};
use super::store::{Store, StoreError, uid_for};

/// A Deployment the simulator keeps alive: its current ReplicaSet and pods.
#[derive(Debug)]
pub struct DeploymentState {
    pub owner: Owner,
    pub replica_set: Owner,
    pub hash: String,
    pub template: PodTemplate,
    pub pods: Vec<String>,
    /// HPA bounds (min, max), when the Deployment is autoscaled.
    pub hpa: Option<(usize, usize)>,
    pub generation: u64,
}

/// A CronJob and the Jobs it runs.
#[derive(Debug)]
pub struct CronState {
    pub owner: Owner,
    pub template: PodTemplate,
    /// Fires every `every` minutes, `offset` minutes past the period's start.
    pub every_minutes: i64,
    pub offset_minutes: i64,
    /// How long a run takes, in seconds (uniform between the two).
    pub duration_seconds: (i64, i64),
    /// Share of runs that fail and are retried up to `backoff_limit` times.
    pub failure_rate: f64,
    pub backoff_limit: u32,
}

impl CronState {
    /// The cron expression of the schedule.
    pub fn schedule(&self) -> String {
        match self.every_minutes {
            1440 => format!(
                "{} {} * * *",
                self.offset_minutes % 60,
                self.offset_minutes / 60
            ),
            60 => format!("{} * * * *", self.offset_minutes),
            every => format!("*/{every} * * * *"),
        }
    }

    /// The first firing strictly after `after`.
    pub fn next_fire(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        let minute = after.timestamp().div_euclid(60);
        let period = self.every_minutes.max(1);
        let mut next = minute - (minute - self.offset_minutes).rem_euclid(period) + period;
        if next <= minute {
            next += period;
        }
        DateTime::<Utc>::from_timestamp(next * 60, 0).unwrap_or(after)
    }
}

/// A pod of a hand-written scenario, with the instants of its life.
#[derive(Debug)]
pub struct ScenarioPod {
    pub template: PodTemplate,
    pub identity: PodIdentity,
    pub node: String,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    /// `succeeded`, `failed` or `deleted`.
    pub outcome: String,
    /// (container, instant) of each OOM kill.
    pub oom_kills: Vec<(String, DateTime<Utc>)>,
}

/// Something that happens at a simulated instant.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Happening {
    Fire(usize),
    StartJobPod {
        cron: usize,
        job: String,
        attempt: u32,
    },
    FinishJobPod {
        cron: usize,
        job: String,
        pod: String,
        attempt: u32,
        succeeded: bool,
    },
    CleanUpJob {
        namespace: String,
        job: String,
    },
    OomKill {
        namespace: String,
        pod: String,
        container: String,
    },
    Rollout(usize),
    ReplacePod {
        deployment: usize,
        pod: String,
    },
    Autoscale(usize),
    ScenarioStart(usize),
    ScenarioEnd(usize),
    ForcedOomKill {
        namespace: String,
        pod: String,
        container: String,
    },
}

#[derive(Debug, PartialEq, Eq)]
struct Scheduled {
    at: DateTime<Utc>,
    seq: u64,
    what: Happening,
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The controllers' state and the queue of what happens next.
#[derive(Debug, Default)]
pub struct Life {
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    rng: Rng,
    pods_made: u64,
    pub scheduler: Scheduler,
    pub deployments: Vec<DeploymentState>,
    pub cronjobs: Vec<CronState>,
    scenario: Vec<ScenarioPod>,
}

/// How often HPAs re-evaluate in the simulation (the real controller syncs
/// every 15 s; half an hour keeps a week of events small and still shows
/// the day's shape).
const AUTOSCALE_EVERY: Duration = Duration::minutes(30);
/// Jobs are deleted this long after they finish (`ttlSecondsAfterFinished`).
pub const JOB_TTL_SECONDS: i64 = 3600;
/// Pods of a rollout are replaced one at a time, this far apart.
const ROLLOUT_STEP: Duration = Duration::seconds(15);

impl Life {
    pub fn new(seed: u64) -> Life {
        Life {
            rng: Rng::new(seed ^ 0x6c69_6665),
            ..Life::default()
        }
    }

    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    fn schedule(&mut self, at: DateTime<Utc>, what: Happening) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            what,
        }));
    }

    /// When the next happening is due.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.queue.peek().map(|Reverse(next)| next.at)
    }

    /// Queues the first runs of the CronJobs, rollouts and HPA evaluations after `now`.
    pub fn start(&mut self, now: DateTime<Utc>) {
        for index in 0..self.cronjobs.len() {
            let at = self.cronjobs[index].next_fire(now);
            self.schedule(at, Happening::Fire(index));
        }
        for index in 0..self.deployments.len() {
            let first = Duration::minutes(60 + self.rng.below(4 * 24 * 60) as i64);
            self.schedule(now + first, Happening::Rollout(index));
            if self.deployments[index].hpa.is_some() {
                let offset = Duration::seconds(self.rng.below(1800) as i64);
                self.schedule(now + offset, Happening::Autoscale(index));
            }
        }
    }

    /// Creates a pod of `template` started at `started`, on `node` or where
    /// the scheduler finds room (Pending when none). For a pod started
    /// before the epoch, leaking containers carry the OOM kills they would
    /// have had by then.
    pub fn start_pod(
        &mut self,
        pods: &mut BTreeMap<(String, String), PodModel>,
        store: &Store,
        template: &PodTemplate,
        identity: PodIdentity,
        node: Option<String>,
        started: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (cpu, memory) = template.request();
        let node = match node {
            Some(node) => {
                self.scheduler.reserve(&node, cpu, memory);
                Some(node)
            }
            None => self.scheduler.place(cpu, memory, template.placement),
        };
        let mut object = template.pod(&identity, node.as_deref(), started);
        let mut containers = template.containers.clone();
        for container in &mut containers {
            container.jitter = self.rng.unit();
            container.started = started;
            if container.profile == UsageProfile::Leak {
                let period = container.leak_period();
                while container.started + period <= epoch() {
                    container.started += period;
                    record_oom_kill(&mut object, &container.name, container.started);
                }
            }
        }
        store.put(PODS, object)?;
        let Some(node) = node else {
            return Ok(());
        };
        for container in containers
            .iter()
            .filter(|c| c.profile == UsageProfile::Leak)
        {
            self.schedule(
                container.started + container.leak_period(),
                Happening::OomKill {
                    namespace: identity.namespace.clone(),
                    pod: identity.name.clone(),
                    container: container.name.clone(),
                },
            );
        }
        pods.insert(
            (identity.namespace.clone(), identity.name.clone()),
            PodModel {
                namespace: identity.namespace,
                name: identity.name,
                uid: identity.uid,
                node,
                labels: identity.labels,
                containers,
                reserved: (cpu, memory),
            },
        );
        Ok(())
    }

    pub fn add_scenario_pod(&mut self, pod: ScenarioPod) {
        self.scenario.push(pod);
    }

    /// Starts the scenario's pods already running at `now` and queues the rest
    /// of their lives.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] if the store refuses a pod.
    pub fn start_scenario(
        &mut self,
        pods: &mut BTreeMap<(String, String), PodModel>,
        store: &Store,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for index in 0..self.scenario.len() {
            let pod = &self.scenario[index];
            let (start, end) = (pod.start, pod.end);
            let kills: Vec<(String, DateTime<Utc>)> = pod.oom_kills.clone();
            let (namespace, name) = (pod.identity.namespace.clone(), pod.identity.name.clone());
            if start <= now {
                self.start_scenario_pod(pods, store, index, start)?;
            } else {
                self.schedule(start, Happening::ScenarioStart(index));
            }
            if let Some(end) = end {
                self.schedule(end, Happening::ScenarioEnd(index));
            }
            for (container, at) in kills.into_iter().filter(|(_, at)| *at > now) {
                self.schedule(
                    at,
                    Happening::ForcedOomKill {
                        namespace: namespace.clone(),
                        pod: name.clone(),
                        container,
                    },
                );
            }
        }
        Ok(())
    }

    fn start_scenario_pod(
        &mut self,
        pods: &mut BTreeMap<(String, String), PodModel>,
        store: &Store,
        index: usize,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let pod = &self.scenario[index];
        let (template, identity, node) =
            (pod.template.clone(), pod.identity.clone(), pod.node.clone());
        self.start_pod(pods, store, &template, identity, Some(node), at)
    }

    /// A fresh uid for a pod: names repeat (StatefulSets), uids never do.
    pub fn pod_uid(&mut self, namespace: &str, name: &str) -> String {
        self.pods_made += 1;
        uid_for(PODS, namespace, name, self.pods_made)
    }

    /// Starts one more pod of Deployment `index`'s current ReplicaSet.
    pub fn add_replica(
        &mut self,
        pods: &mut BTreeMap<(String, String), PodModel>,
        store: &Store,
        index: usize,
        started: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        let identity = self.replica_identity(store, index);
        let name = identity.name.clone();
        let template = self.deployments[index].template.clone();
        self.start_pod(pods, store, &template, identity, None, started)?;
        self.deployments[index].pods.push(name.clone());
        Ok(name)
    }

    /// Identity of a new pod of a Deployment's current ReplicaSet.
    fn replica_identity(&mut self, store: &Store, index: usize) -> PodIdentity {
        let state = &self.deployments[index];
        let (namespace, prefix, app, hash) = (
            state.owner.namespace.clone(),
            state.replica_set.name.clone(),
            state.template.app.clone(),
            state.hash.clone(),
        );
        let owner = Some(state.replica_set.reference());
        let name = unique_pod_name(store, &mut self.rng, &namespace, &prefix);
        PodIdentity {
            uid: self.pod_uid(&namespace, &name),
            labels: json!({"app": app, "pod-template-hash": hash}),
            namespace,
            name,
            owner,
        }
    }
}

/// `<prefix>-<5 random characters>`, drawn again on a collision as the
/// ReplicaSet controller's name generator is (a 5,000-replica set collides
/// about once with 27⁵ names).
pub fn unique_pod_name(store: &Store, rng: &mut Rng, namespace: &str, prefix: &str) -> String {
    loop {
        let name = format!("{prefix}-{}", rng.suffix(5));
        if store.get(PODS, namespace, &name).is_err() {
            return name;
        }
    }
}

/// Applies everything due up to `until`, in order; returns how many happened.
///
/// # Errors
///
/// A [`StoreError`] if the store refuses a write (a simulator defect).
pub fn advance(
    model: &mut ClusterModel,
    store: &Store,
    until: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut count = 0;
    while model.life.next_due().is_some_and(|at| at <= until) {
        let Some(Reverse(next)) = model.life.queue.pop() else {
            break;
        };
        apply(model, store, next.at, next.what)?;
        count += 1;
    }
    Ok(count)
}

fn apply(
    model: &mut ClusterModel,
    store: &Store,
    at: DateTime<Utc>,
    what: Happening,
) -> Result<(), StoreError> {
    let ClusterModel { pods, life, .. } = model;
    match what {
        Happening::Fire(cron) => fire(life, store, cron, at),
        Happening::StartJobPod { cron, job, attempt } => {
            start_job_pod(life, pods, store, cron, &job, attempt, at)
        }
        Happening::FinishJobPod {
            cron,
            job,
            pod,
            attempt,
            succeeded,
        } => finish_job_pod(life, pods, store, cron, &job, &pod, attempt, succeeded, at),
        Happening::CleanUpJob { namespace, job } => {
            let selector = LabelSelector::parse(&format!("job-name={job}")).unwrap_or_default();
            let page = store.list(
                PODS,
                Some(&namespace),
                &selector,
                &FieldSelector::default(),
                None,
                None,
            );
            for pod in page.items {
                remove_pod(life, pods, store, &namespace, &pod.name, at)?;
            }
            store.delete(JOBS, &namespace, &job).map(drop).or_else(gone)
        }
        Happening::OomKill {
            namespace,
            pod,
            container,
        } => {
            let key = (namespace, pod);
            let Some(model) = pods.get_mut(&key) else {
                return Ok(());
            };
            let Some(c) = model.containers.iter_mut().find(|c| c.name == container) else {
                return Ok(());
            };
            if c.started + c.leak_period() != at {
                return Ok(());
            }
            c.started = at;
            let next = at + c.leak_period();
            let mut object = store.get(PODS, &key.0, &key.1)?.value();
            record_oom_kill(&mut object, &container, at);
            store.put(PODS, object)?;
            life.schedule(
                next,
                Happening::OomKill {
                    namespace: key.0,
                    pod: key.1,
                    container,
                },
            );
            Ok(())
        }
        Happening::Rollout(index) => rollout(life, store, index, at),
        Happening::ReplacePod { deployment, pod } => {
            let Some(position) = life.deployments[deployment]
                .pods
                .iter()
                .position(|p| *p == pod)
            else {
                return Ok(());
            };
            let namespace = life.deployments[deployment].owner.namespace.clone();
            remove_pod(life, pods, store, &namespace, &pod, at)?;
            let identity = life.replica_identity(store, deployment);
            let name = identity.name.clone();
            let template = life.deployments[deployment].template.clone();
            life.start_pod(pods, store, &template, identity, None, at)?;
            life.deployments[deployment].pods[position] = name;
            Ok(())
        }
        Happening::Autoscale(index) => autoscale(life, pods, store, index, at),
        Happening::ScenarioStart(index) => life.start_scenario_pod(pods, store, index, at),
        Happening::ScenarioEnd(index) => {
            let pod = &life.scenario[index];
            let (namespace, name) = (pod.identity.namespace.clone(), pod.identity.name.clone());
            match pod.outcome.as_str() {
                "deleted" => remove_pod(life, pods, store, &namespace, &name, at),
                outcome => finish_pod(
                    life,
                    pods,
                    store,
                    &namespace,
                    &name,
                    outcome == "succeeded",
                    at,
                ),
            }
        }
        Happening::ForcedOomKill {
            namespace,
            pod,
            container,
        } => {
            let key = (namespace, pod);
            let Some(c) = pods
                .get_mut(&key)
                .and_then(|p| p.containers.iter_mut().find(|c| c.name == container))
            else {
                return Ok(());
            };
            c.started = at;
            let mut object = store.get(PODS, &key.0, &key.1)?.value();
            record_oom_kill(&mut object, &container, at);
            store.put(PODS, object).map(drop)
        }
    }
}

/// A write to an object someone else already deleted is not an error.
fn gone(error: StoreError) -> Result<(), StoreError> {
    match error {
        StoreError::NotFound { .. } => Ok(()),
        other => Err(other),
    }
}

/// Deletes a pod as a graceful deletion does: a MODIFIED event with
/// `deletionTimestamp` (the simulated instant it stops; the simulated pods
/// stop at once), then DELETED. Frees what it had reserved.
fn remove_pod(
    life: &mut Life,
    pods: &mut BTreeMap<(String, String), PodModel>,
    store: &Store,
    namespace: &str,
    name: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if let Ok(current) = store.get(PODS, namespace, name) {
        let mut object = current.value();
        object["metadata"]["deletionTimestamp"] = json!(timestamp(at));
        object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        store.put(PODS, object)?;
    }
    let removed = store.delete(PODS, namespace, name);
    if let Some(model) = pods.remove(&(namespace.to_owned(), name.to_owned())) {
        life.scheduler
            .release(&model.node, model.reserved.0, model.reserved.1);
    }
    removed.map(drop).or_else(gone)
}

fn fire(life: &mut Life, store: &Store, cron: usize, at: DateTime<Utc>) -> Result<(), StoreError> {
    let next = life.cronjobs[cron].next_fire(at);
    life.schedule(next, Happening::Fire(cron));
    let state = &life.cronjobs[cron];
    // The CronJob controller names a Job after its scheduled minute.
    let job = format!("{}-{}", state.owner.name, at.timestamp() / 60);
    let owner = Owner::new(JOBS, &state.owner.namespace, &job);
    let labels = json!({"app": state.template.app, "job-name": job, "batch.kubernetes.io/job-name": job, "controller-uid": owner.uid, "batch.kubernetes.io/controller-uid": owner.uid});
    let spec = json!({
        "backoffLimit": state.backoff_limit, "completions": 1, "parallelism": 1,
        "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
        "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": owner.uid}},
        "template": state.template.template_json(&labels),
    });
    let status = json!({"active": 1, "startTime": timestamp(at)});
    let mut object = controller(&owner, &labels, spec, status, at);
    object["metadata"]["ownerReferences"] = json!([state.owner.reference()]);
    store.put(JOBS, object)?;
    let mut cronjob = store
        .get(CRONJOBS, &state.owner.namespace, &state.owner.name)?
        .value();
    cronjob["status"]["lastScheduleTime"] = json!(timestamp(at));
    store.put(CRONJOBS, cronjob)?;
    life.schedule(
        at,
        Happening::StartJobPod {
            cron,
            job,
            attempt: 0,
        },
    );
    Ok(())
}

fn start_job_pod(
    life: &mut Life,
    pods: &mut BTreeMap<(String, String), PodModel>,
    store: &Store,
    cron: usize,
    job: &str,
    attempt: u32,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let namespace = life.cronjobs[cron].owner.namespace.clone();
    let Ok(job_object) = store.get(JOBS, &namespace, job) else {
        return Ok(());
    };
    let job_object = job_object.value();
    let name = unique_pod_name(store, &mut life.rng, &namespace, job);
    let identity = PodIdentity {
        uid: life.pod_uid(&namespace, &name),
        labels: job_object["metadata"]["labels"].clone(),
        owner: Some(
            json!({"apiVersion": "batch/v1", "kind": "Job", "name": job, "uid": job_object["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}),
        ),
        namespace,
        name: name.clone(),
    };
    let template = life.cronjobs[cron].template.clone();
    life.start_pod(pods, store, &template, identity, None, at)?;
    let state = &life.cronjobs[cron];
    let (low, high) = state.duration_seconds;
    let seconds = low + life.rng.below((high - low).max(0) as usize + 1) as i64;
    let succeeded = life.rng.unit() >= state.failure_rate;
    life.schedule(
        at + Duration::seconds(seconds),
        Happening::FinishJobPod {
            cron,
            job: job.to_owned(),
            pod: name,
            attempt,
            succeeded,
        },
    );
    Ok(())
}

/// Ends a pod that ran to completion or failed, and frees its room.
fn finish_pod(
    life: &mut Life,
    pods: &mut BTreeMap<(String, String), PodModel>,
    store: &Store,
    namespace: &str,
    pod: &str,
    succeeded: bool,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Ok(object) = store.get(PODS, namespace, pod) else {
        return Ok(());
    };
    let mut object = object.value();
    record_finished(&mut object, succeeded, at);
    store.put(PODS, object)?;
    if let Some(model) = pods.remove(&(namespace.to_owned(), pod.to_owned())) {
        life.scheduler
            .release(&model.node, model.reserved.0, model.reserved.1);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn finish_job_pod(
    life: &mut Life,
    pods: &mut BTreeMap<(String, String), PodModel>,
    store: &Store,
    cron: usize,
    job: &str,
    pod: &str,
    attempt: u32,
    succeeded: bool,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let namespace = life.cronjobs[cron].owner.namespace.clone();
    finish_pod(life, pods, store, &namespace, pod, succeeded, at)?;
    let Ok(job_object) = store.get(JOBS, &namespace, job) else {
        return Ok(());
    };
    let mut job_object = job_object.value();
    let retry = !succeeded && attempt < life.cronjobs[cron].backoff_limit;
    let status = &mut job_object["status"];
    if succeeded {
        status["succeeded"] = json!(1);
    } else {
        status["failed"] = json!(attempt + 1);
    }
    if retry {
        life.schedule(
            at + Duration::seconds(10 << attempt.min(6)),
            Happening::StartJobPod {
                cron,
                job: job.to_owned(),
                attempt: attempt + 1,
            },
        );
    } else {
        status["active"] = json!(0);
        let condition = if succeeded { "Complete" } else { "Failed" };
        status["conditions"] =
            json!([{"type": condition, "status": "True", "lastTransitionTime": timestamp(at)}]);
        if succeeded {
            status["completionTime"] = json!(timestamp(at));
        }
        life.schedule(
            at + Duration::seconds(JOB_TTL_SECONDS),
            Happening::CleanUpJob {
                namespace: namespace.clone(),
                job: job.to_owned(),
            },
        );
    }
    store.put(JOBS, job_object)?;
    Ok(())
}

/// Starts a rolling update: a new ReplicaSet takes over pod by pod.
fn rollout(
    life: &mut Life,
    store: &Store,
    index: usize,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let hash = life.rng.suffix(10);
    let next = Duration::minutes(2 * 24 * 60 + life.rng.below(3 * 24 * 60) as i64);
    life.schedule(at + next, Happening::Rollout(index));
    let state = &mut life.deployments[index];
    state.generation += 1;
    let app = state.template.app.clone();
    let replicas = state.pods.len();
    let old = state.replica_set.clone();
    state.hash = hash.clone();
    state.replica_set = Owner::new(
        REPLICASETS,
        &state.owner.namespace,
        &format!("{}-{hash}", state.owner.name),
    );
    state.template.annotations["kubectl.kubernetes.io/restartedAt"] = json!(timestamp(at));
    let labels = json!({"app": app, "pod-template-hash": hash});
    let spec = json!({"replicas": replicas, "selector": {"matchLabels": labels}, "template": state.template.template_json(&labels)});
    let mut rs = controller(
        &state.replica_set,
        &labels,
        spec,
        replica_status(replicas, replicas, 1),
        at,
    );
    rs["metadata"]["ownerReferences"] = json!([state.owner.reference()]);
    store.put(REPLICASETS, rs)?;
    let mut old_rs = store.get(REPLICASETS, &old.namespace, &old.name)?.value();
    old_rs["spec"]["replicas"] = json!(0);
    old_rs["status"] = replica_status(0, 0, 1);
    store.put(REPLICASETS, old_rs)?;
    let mut deployment = store
        .get(DEPLOYMENTS, &state.owner.namespace, &state.owner.name)?
        .value();
    deployment["metadata"]["generation"] = json!(state.generation);
    deployment["spec"]["template"] = state.template.template_json(&json!({"app": app}));
    deployment["status"] = replica_status(replicas, replicas, state.generation);
    store.put(DEPLOYMENTS, deployment)?;
    let old_pods = state.pods.clone();
    for (step, pod) in old_pods.into_iter().enumerate() {
        life.schedule(
            at + ROLLOUT_STEP * (step as i32 + 1),
            Happening::ReplacePod {
                deployment: index,
                pod,
            },
        );
    }
    Ok(())
}

/// The HPA follows the day between its bounds.
fn autoscale(
    life: &mut Life,
    pods: &mut BTreeMap<(String, String), PodModel>,
    store: &Store,
    index: usize,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    life.schedule(at + AUTOSCALE_EVERY, Happening::Autoscale(index));
    let Some((min, max)) = life.deployments[index].hpa else {
        return Ok(());
    };
    let wanted = (min as f64 + (max - min) as f64 * day_level(at)).round() as usize;
    let wanted = wanted.clamp(min, max);
    let namespace = life.deployments[index].owner.namespace.clone();
    if wanted == life.deployments[index].pods.len() {
        return Ok(());
    }
    while life.deployments[index].pods.len() < wanted {
        life.add_replica(pods, store, index, at)?;
    }
    while life.deployments[index].pods.len() > wanted {
        if let Some(pod) = life.deployments[index].pods.pop() {
            remove_pod(life, pods, store, &namespace, &pod, at)?;
        }
    }
    let state = &life.deployments[index];
    let mut deployment = store
        .get(DEPLOYMENTS, &namespace, &state.owner.name)?
        .value();
    deployment["spec"]["replicas"] = json!(wanted);
    deployment["status"] = replica_status(wanted, wanted, state.generation);
    store.put(DEPLOYMENTS, deployment)?;
    let mut rs = store
        .get(REPLICASETS, &namespace, &state.replica_set.name)?
        .value();
    rs["spec"]["replicas"] = json!(wanted);
    rs["status"] = replica_status(wanted, wanted, 1);
    store.put(REPLICASETS, rs)?;
    let mut autoscaler = store.get(HPAS, &namespace, &state.owner.name)?.value();
    autoscaler["status"] = json!({"currentReplicas": wanted, "desiredReplicas": wanted, "lastScaleTime": timestamp(at)});
    store.put(HPAS, autoscaler)?;
    Ok(())
}

/// The Deployment's HPA object at `replicas`.
pub fn hpa_object(state: &DeploymentState, created: DateTime<Utc>) -> Option<Value> {
    let (min, max) = state.hpa?;
    Some(hpa(
        &state.owner.namespace,
        &state.owner.name,
        min,
        max,
        state.pods.len(),
        created,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cron(every: i64, offset: i64) -> CronState {
        CronState {
            owner: Owner::new(CRONJOBS, "ns", "sync"),
            template: PodTemplate::new("sync", Vec::new()),
            every_minutes: every,
            offset_minutes: offset,
            duration_seconds: (20, 20),
            failure_rate: 0.0,
            backoff_limit: 0,
        }
    }

    #[test]
    fn cron_schedules_fire_on_their_minutes() {
        let epoch = super::super::cluster::epoch();
        let quarter = cron(15, 0);
        assert_eq!(quarter.schedule(), "*/15 * * * *");
        assert_eq!(quarter.next_fire(epoch), epoch + Duration::minutes(15));
        assert_eq!(
            quarter.next_fire(epoch + Duration::seconds(1)),
            epoch + Duration::minutes(15)
        );
        let hourly = cron(60, 5);
        assert_eq!(hourly.schedule(), "5 * * * *");
        assert_eq!(hourly.next_fire(epoch), epoch + Duration::minutes(5));
        assert_eq!(
            hourly.next_fire(epoch + Duration::minutes(5)),
            epoch + Duration::minutes(65)
        );
        let nightly = cron(1440, 120);
        assert_eq!(nightly.schedule(), "0 2 * * *");
        assert_eq!(nightly.next_fire(epoch), epoch + Duration::hours(2));
    }
}
