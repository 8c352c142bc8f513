//! The cluster's life over simulated time: what the controllers and kubelet
//! of a real cluster do while the collector watches.
//!
//! CronJobs fire Jobs whose pods run for seconds to hours and finish (and
//! sometimes fail and retry); leaking containers are OOMKilled and restart;
//! Deployments roll out new ReplicaSets pod by pod (some new pods wait in
//! `ContainerCreating` or `ImagePullBackOff` first); HPAs scale with the
//! day; VPA resizes pods in place, and the kubelet grants, defers or refuses.
//! Every change is a write to the store, so watches see ADDED, MODIFIED and
//! DELETED events stamped with simulated time, and every happening is drawn
//! from the seed, so a seed reproduces the same week.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::cluster::{ClusterModel, PodModel, Rng, UsageProfile, epoch};
use super::etcd::{Etcd, EtcdError, uid_for};
use super::metrics::day_level;
use super::objects::{
    Owner, PodIdentity, PodTemplate, Requirements, controller, effective_request, hpa,
    record_finished, record_oom_kill, record_resize_accepted, record_resize_actuated,
    record_resize_pending, record_resize_request, replica_status, timestamp,
};
use super::resources::{CRONJOBS, DEPLOYMENTS, HPAS, JOBS, PODS, REPLICASETS};
use super::scheduler::{Room, Scheduler};
use super::selector::{FieldSelector, LabelSelector};
use crate::model::units::millicores;

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
    /// Bound but not running from `start` until the wait ends.
    pub waiting: Option<Waiting>,
    /// In-place resizes asked of the pod, at their instants.
    pub resizes: Vec<(DateTime<Utc>, PlannedResize)>,
    /// When the finished pod object is deleted (a Job's TTL does it).
    pub deleted: Option<DateTime<Utc>>,
}

/// Containers that wait for `reason` (`ContainerCreating`,
/// `ImagePullBackOff`, …) until `until`, or for good.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub reason: String,
    pub until: Option<DateTime<Utc>>,
}

/// How a bound pod's containers begin.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// Running from this instant.
    Running(DateTime<Utc>),
    /// Not started yet: no usage, no metrics, room reserved on the node.
    Waiting(Waiting),
}

/// What the kubelet makes of a resize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeOutcome {
    /// Allocated at once, actuated [`RESIZE_ACTUATION`] later.
    Done,
    /// More than the node can allocate at all.
    Infeasible,
    /// More than the node has free now.
    Deferred,
}

/// An in-place resize of one container, as VPA or a user asks it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedResize {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// The values asked for; `None` keeps the container's current one.
    pub resources: Requirements,
    /// Forced (scenarios); `None` lets the kubelet's rule decide ([`kubelet_verdict`]).
    pub outcome: Option<ResizeOutcome>,
}

/// A bound pod whose containers wait, with what it needs to start them.
#[derive(Debug)]
struct WaitingPod {
    model: PodModel,
    template: PodTemplate,
    bound: DateTime<Utc>,
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
    ScenarioDelete(usize),
    ContainersStart {
        namespace: String,
        pod: String,
    },
    Resize(usize),
    ResizeActuated {
        namespace: String,
        pod: String,
    },
    ResizeRound,
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
    /// Draws for resizes and waiting pods, apart from `rng` so they leave
    /// the rest of a seed's week as it was.
    shapes: Rng,
    pods_made: u64,
    pub scheduler: Scheduler,
    pub deployments: Vec<DeploymentState>,
    pub cronjobs: Vec<CronState>,
    scenario: Vec<ScenarioPod>,
    /// Bound pods whose containers have not started (no usage yet).
    waiting: BTreeMap<(String, String), WaitingPod>,
    resizes: Vec<PlannedResize>,
}

/// How often HPAs re-evaluate in the simulation (the real controller syncs
/// every 15 s; half an hour keeps a week of events small and still shows
/// the day's shape).
const AUTOSCALE_EVERY: Duration = Duration::minutes(30);
/// Jobs are deleted this long after they finish (`ttlSecondsAfterFinished`).
pub const JOB_TTL_SECONDS: i64 = 3600;
/// Pods of a rollout are replaced one at a time, this far apart.
const ROLLOUT_STEP: Duration = Duration::seconds(15);
/// The kubelet actuates an accepted resize this long after allocating it.
pub const RESIZE_ACTUATION: Duration = Duration::seconds(10);
/// Share of a rollout's new pods that wait before running, and for how long
/// (seconds, uniform): image pulls and sandbox creation on a busy node.
const ROLLOUT_WAIT_SHARE: f64 = 0.2;
const ROLLOUT_WAIT_SECONDS: (i64, i64) = (30, 120);

impl Life {
    pub fn new(seed: u64) -> Life {
        Life {
            rng: Rng::new(seed ^ 0x6c69_6665),
            shapes: Rng::new(seed ^ 0x7368_6170_6573),
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
        if !self.deployments.is_empty() {
            let first = Duration::minutes(60 + self.shapes.below(120) as i64);
            self.schedule(now + first, Happening::ResizeRound);
        }
    }

    /// Creates a pod of `template` started at `started`, on `node` or where
    /// the scheduler finds room (Pending when none). For a pod started
    /// before the epoch, leaking containers carry the OOM kills they would
    /// have had by then.
    pub fn start_pod(
        &mut self,
        pods: &mut BTreeMap<(String, String), PodModel>,
        store: &Etcd,
        template: &PodTemplate,
        identity: PodIdentity,
        node: Option<String>,
        started: DateTime<Utc>,
    ) -> Result<(), EtcdError> {
        let start = Start::Running(started);
        self.bind_pod(pods, store, template, identity, node, started, start)
    }

    /// Creates a pod of `template` bound at `bound` (to `node`, or where the
    /// scheduler finds room: Pending when none) whose containers begin as
    /// `start` says. A bound pod reserves its effective request at once,
    /// running or not.
    #[allow(clippy::too_many_arguments)]
    pub fn bind_pod(
        &mut self,
        pods: &mut BTreeMap<(String, String), PodModel>,
        store: &Etcd,
        template: &PodTemplate,
        identity: PodIdentity,
        node: Option<String>,
        bound: DateTime<Utc>,
        start: Start,
    ) -> Result<(), EtcdError> {
        let (cpu, memory) = template.request();
        let node = match node {
            Some(node) => {
                self.scheduler.reserve(&node, cpu, memory);
                Some(node)
            }
            None => self.scheduler.place(cpu, memory, template.placement),
        };
        let started = match &start {
            Start::Running(at) => *at,
            Start::Waiting(_) => bound,
        };
        let mut containers = template.containers.clone();
        for container in &mut containers {
            container.jitter = self.rng.unit();
            container.started = started;
        }
        let Some(node) = node else {
            store.put(PODS, template.pod(&identity, None, bound))?;
            return Ok(());
        };
        let key = (identity.namespace.clone(), identity.name.clone());
        let model = PodModel {
            namespace: identity.namespace.clone(),
            name: identity.name.clone(),
            uid: identity.uid.clone(),
            node: node.clone(),
            labels: identity.labels.clone(),
            containers,
            sizing: template.sizing.clone(),
            reserved: (cpu, memory),
        };
        match start {
            Start::Running(started) => {
                let mut object = template.pod(&identity, Some(&node), bound);
                object["status"] = template.running_status(&identity.uid, bound, started);
                self.run(pods, store, model, object)
            }
            Start::Waiting(Waiting { reason, until }) => {
                store.put(PODS, template.waiting_pod(&identity, &node, bound, &reason))?;
                if let Some(until) = until {
                    let (namespace, pod) = key.clone();
                    self.schedule(until, Happening::ContainersStart { namespace, pod });
                }
                let template = template.clone();
                self.waiting.insert(
                    key,
                    WaitingPod {
                        model,
                        template,
                        bound,
                    },
                );
                Ok(())
            }
        }
    }

    /// Writes a pod whose containers run and starts its usage: leaking
    /// containers started before the epoch carry the OOM kills they would
    /// have had by then, and their next kill is queued.
    fn run(
        &mut self,
        pods: &mut BTreeMap<(String, String), PodModel>,
        store: &Etcd,
        mut model: PodModel,
        mut object: Value,
    ) -> Result<(), EtcdError> {
        for container in &mut model.containers {
            if container.profile == UsageProfile::Leak {
                let period = container.leak_period();
                while container.started + period <= epoch() {
                    container.started += period;
                    record_oom_kill(&mut object, &container.name, container.started);
                }
            }
        }
        store.put(PODS, object)?;
        for container in model
            .containers
            .iter()
            .filter(|c| c.profile == UsageProfile::Leak)
        {
            self.schedule(
                container.started + container.leak_period(),
                Happening::OomKill {
                    namespace: model.namespace.clone(),
                    pod: model.name.clone(),
                    container: container.name.clone(),
                },
            );
        }
        pods.insert((model.namespace.clone(), model.name.clone()), model);
        Ok(())
    }

    /// The waiting containers of a bound pod start at `at`: it turns Running
    /// (`startTime` stays when it was bound) and its usage begins.
    fn start_containers(
        &mut self,
        pods: &mut BTreeMap<(String, String), PodModel>,
        store: &Etcd,
        key: (String, String),
        at: DateTime<Utc>,
    ) -> Result<(), EtcdError> {
        let Some(waiting) = self.waiting.remove(&key) else {
            return Ok(());
        };
        let WaitingPod {
            mut model,
            template,
            bound,
        } = waiting;
        let Ok(current) = store.get(PODS, &key.0, &key.1) else {
            self.scheduler
                .release(&model.node, model.reserved.0, model.reserved.1);
            return Ok(());
        };
        let mut object = current.value();
        object["status"] = template.running_status(&model.uid, bound, at);
        for container in &mut model.containers {
            container.started = at;
        }
        self.run(pods, store, model, object)
    }

    /// Forgets a pod that stopped, running or still waiting, and frees the
    /// room it had reserved.
    fn unbind(&mut self, pods: &mut BTreeMap<(String, String), PodModel>, key: &(String, String)) {
        let model = pods
            .remove(key)
            .or_else(|| self.waiting.remove(key).map(|w| w.model));
        if let Some(model) = model {
            self.scheduler
                .release(&model.node, model.reserved.0, model.reserved.1);
        }
    }

    /// How a rollout's new pod begins: most run at once; some wait for their
    /// sandbox or image first ([`ROLLOUT_WAIT_SHARE`]).
    fn rollout_start(&mut self, at: DateTime<Utc>) -> Start {
        if self.shapes.unit() >= ROLLOUT_WAIT_SHARE {
            return Start::Running(at);
        }
        let reason = if self.shapes.unit() < 0.7 {
            "ContainerCreating"
        } else {
            "ImagePullBackOff"
        };
        let (low, high) = ROLLOUT_WAIT_SECONDS;
        let seconds = low + self.shapes.below((high - low) as usize + 1) as i64;
        Start::Waiting(Waiting {
            reason: reason.into(),
            until: Some(at + Duration::seconds(seconds)),
        })
    }

    pub fn add_scenario_pod(&mut self, pod: ScenarioPod) {
        self.scenario.push(pod);
    }

    /// Starts the scenario's pods already running at `now` and queues the rest
    /// of their lives.
    ///
    /// # Errors
    ///
    /// A [`EtcdError`] if the store refuses a pod.
    pub fn start_scenario(
        &mut self,
        pods: &mut BTreeMap<(String, String), PodModel>,
        store: &Etcd,
        now: DateTime<Utc>,
    ) -> Result<(), EtcdError> {
        for index in 0..self.scenario.len() {
            let pod = &self.scenario[index];
            let (start, end, deleted) = (pod.start, pod.end, pod.deleted);
            let kills: Vec<(String, DateTime<Utc>)> = pod.oom_kills.clone();
            let resizes = pod.resizes.clone();
            let (namespace, name) = (pod.identity.namespace.clone(), pod.identity.name.clone());
            if start <= now {
                self.start_scenario_pod(pods, store, index, start, now)?;
            } else {
                self.schedule(start, Happening::ScenarioStart(index));
            }
            if let Some(end) = end {
                self.schedule(end, Happening::ScenarioEnd(index));
            }
            if let Some(deleted) = deleted {
                self.schedule(deleted, Happening::ScenarioDelete(index));
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
            for (at, resize) in resizes {
                self.resizes.push(resize);
                self.schedule(at, Happening::Resize(self.resizes.len() - 1));
            }
        }
        Ok(())
    }

    /// Binds scenario pod `index` at `at`; its containers run at once, or
    /// wait as the scenario says (already done waiting by `now`: running
    /// since the wait ended).
    fn start_scenario_pod(
        &mut self,
        pods: &mut BTreeMap<(String, String), PodModel>,
        store: &Etcd,
        index: usize,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), EtcdError> {
        let pod = &self.scenario[index];
        let (template, identity, node) =
            (pod.template.clone(), pod.identity.clone(), pod.node.clone());
        let start = match &pod.waiting {
            None => Start::Running(at),
            Some(Waiting {
                until: Some(until), ..
            }) if *until <= now => Start::Running(*until),
            Some(waiting) => Start::Waiting(waiting.clone()),
        };
        self.bind_pod(pods, store, &template, identity, Some(node), at, start)
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
        store: &Etcd,
        index: usize,
        started: DateTime<Utc>,
    ) -> Result<String, EtcdError> {
        let identity = self.replica_identity(store, index);
        let name = identity.name.clone();
        let template = self.deployments[index].template.clone();
        self.start_pod(pods, store, &template, identity, None, started)?;
        self.deployments[index].pods.push(name.clone());
        Ok(name)
    }

    /// Identity of a new pod of a Deployment's current ReplicaSet.
    fn replica_identity(&mut self, store: &Etcd, index: usize) -> PodIdentity {
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
pub fn unique_pod_name(store: &Etcd, rng: &mut Rng, namespace: &str, prefix: &str) -> String {
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
/// A [`EtcdError`] if the store refuses a write (a simulator defect).
pub fn advance(
    model: &mut ClusterModel,
    store: &Etcd,
    until: DateTime<Utc>,
) -> Result<usize, EtcdError> {
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
    store: &Etcd,
    at: DateTime<Utc>,
    what: Happening,
) -> Result<(), EtcdError> {
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
            let start = life.rollout_start(at);
            life.bind_pod(pods, store, &template, identity, None, at, start)?;
            life.deployments[deployment].pods[position] = name;
            Ok(())
        }
        Happening::Autoscale(index) => autoscale(life, pods, store, index, at),
        Happening::ScenarioStart(index) => life.start_scenario_pod(pods, store, index, at, at),
        Happening::ScenarioDelete(index) => {
            let pod = &life.scenario[index];
            let (namespace, name) = (pod.identity.namespace.clone(), pod.identity.name.clone());
            remove_pod(life, pods, store, &namespace, &name, at)
        }
        Happening::ContainersStart { namespace, pod } => {
            life.start_containers(pods, store, (namespace, pod), at)
        }
        Happening::Resize(index) => {
            let resize = life.resizes[index].clone();
            resize_pod(life, pods, store, &resize, at)
        }
        Happening::ResizeActuated { namespace, pod } => {
            let Some(model) = pods.get(&(namespace.clone(), pod.clone())) else {
                return Ok(());
            };
            let Ok(current) = store.get(PODS, &namespace, &pod) else {
                return Ok(());
            };
            let mut object = current.value();
            record_resize_actuated(&mut object, &model.containers);
            store.put(PODS, object).map(drop)
        }
        Happening::ResizeRound => resize_round(life, pods, store, at),
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
fn gone(error: EtcdError) -> Result<(), EtcdError> {
    match error {
        EtcdError::NotFound { .. } => Ok(()),
        other => Err(other),
    }
}

/// Deletes a pod as a graceful deletion does: a MODIFIED event with
/// `deletionTimestamp` (the simulated instant it stops; the simulated pods
/// stop at once), then DELETED. Frees what it had reserved.
fn remove_pod(
    life: &mut Life,
    pods: &mut BTreeMap<(String, String), PodModel>,
    store: &Etcd,
    namespace: &str,
    name: &str,
    at: DateTime<Utc>,
) -> Result<(), EtcdError> {
    if let Ok(current) = store.get(PODS, namespace, name) {
        let mut object = current.value();
        object["metadata"]["deletionTimestamp"] = json!(timestamp(at));
        object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        store.put(PODS, object)?;
    }
    let removed = store.delete(PODS, namespace, name);
    life.unbind(pods, &(namespace.to_owned(), name.to_owned()));
    removed.map(drop).or_else(gone)
}

fn fire(life: &mut Life, store: &Etcd, cron: usize, at: DateTime<Utc>) -> Result<(), EtcdError> {
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
    store: &Etcd,
    cron: usize,
    job: &str,
    attempt: u32,
    at: DateTime<Utc>,
) -> Result<(), EtcdError> {
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
    store: &Etcd,
    namespace: &str,
    pod: &str,
    succeeded: bool,
    at: DateTime<Utc>,
) -> Result<(), EtcdError> {
    let Ok(object) = store.get(PODS, namespace, pod) else {
        return Ok(());
    };
    let mut object = object.value();
    record_finished(&mut object, succeeded, at);
    store.put(PODS, object)?;
    life.unbind(pods, &(namespace.to_owned(), pod.to_owned()));
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn finish_job_pod(
    life: &mut Life,
    pods: &mut BTreeMap<(String, String), PodModel>,
    store: &Etcd,
    cron: usize,
    job: &str,
    pod: &str,
    attempt: u32,
    succeeded: bool,
    at: DateTime<Utc>,
) -> Result<(), EtcdError> {
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

/// Resizes a running pod's container in place: the spec changes (a new
/// generation), then the kubelet allocates at once (`Done`: usage, the
/// node's reservation and `allocatedResources` follow; `status.resources`
/// [`RESIZE_ACTUATION`] later) or leaves it `PodResizePending`. A pod not
/// running (gone, finished, still waiting) is not resized.
fn resize_pod(
    life: &mut Life,
    pods: &mut BTreeMap<(String, String), PodModel>,
    store: &Etcd,
    resize: &PlannedResize,
    at: DateTime<Utc>,
) -> Result<(), EtcdError> {
    let key = (resize.namespace.clone(), resize.pod.clone());
    let Some(model) = pods.get_mut(&key) else {
        return Ok(());
    };
    let Some(position) = model
        .containers
        .iter()
        .position(|c| c.name == resize.container)
    else {
        return Ok(());
    };
    let Some(room) = life.scheduler.room(&model.node) else {
        return Ok(());
    };
    let resources = patched(model.containers[position].resources, resize.resources);
    let mut wanted = model.containers.clone();
    wanted[position].resources = resources;
    let request = effective_request(&wanted, &model.sizing);
    let verdict = resize
        .outcome
        .unwrap_or_else(|| kubelet_verdict(request, model.reserved, room));
    let Ok(current) = store.get(PODS, &key.0, &key.1) else {
        return Ok(());
    };
    let mut object = current.value();
    let generation = record_resize_request(&mut object, &resize.container, &resources);
    match verdict {
        ResizeOutcome::Done => {
            record_resize_accepted(&mut object, &resize.container, &resources, generation, at);
            let (cpu, memory) = (request.0 - model.reserved.0, request.1 - model.reserved.1);
            life.scheduler.reserve(&model.node, cpu, memory);
            model.reserved = request;
            model.containers[position].resources = resources;
            let (namespace, pod) = key;
            life.schedule(
                at + RESIZE_ACTUATION,
                Happening::ResizeActuated { namespace, pod },
            );
        }
        ResizeOutcome::Infeasible => {
            let message = infeasible_message(request, room);
            record_resize_pending(&mut object, "Infeasible", &message, generation, at);
        }
        ResizeOutcome::Deferred => {
            let message = deferred_message(request, model.reserved, room);
            record_resize_pending(&mut object, "Deferred", &message, generation, at);
        }
    }
    store.put(PODS, object).map(drop)
}

/// `current` with what `asked` sets.
fn patched(current: Requirements, asked: Requirements) -> Requirements {
    Requirements {
        cpu_request_cores: asked.cpu_request_cores.or(current.cpu_request_cores),
        memory_request_bytes: asked.memory_request_bytes.or(current.memory_request_bytes),
        cpu_limit_cores: asked.cpu_limit_cores.or(current.cpu_limit_cores),
        memory_limit_bytes: asked.memory_limit_bytes.or(current.memory_limit_bytes),
    }
}

/// A rounding margin, so a pod resized to exactly what is free still fits.
const FIT_SLACK: f64 = 1e-6;

/// The kubelet's rule for a resize (`canResizePod`): the pod's new
/// effective request beyond the node's allocatable is `Infeasible`; an
/// increase beyond what the node has free is `Deferred`; the rest is granted.
pub fn kubelet_verdict(request: (f64, f64), reserved: (f64, f64), room: Room) -> ResizeOutcome {
    if request.0 > room.cpu_allocatable + FIT_SLACK
        || request.1 > room.memory_allocatable + FIT_SLACK
    {
        ResizeOutcome::Infeasible
    } else if request.0 - reserved.0 > room.cpu_free + FIT_SLACK
        || request.1 - reserved.1 > room.memory_free + FIT_SLACK
    {
        ResizeOutcome::Deferred
    } else {
        ResizeOutcome::Done
    }
}

/// The kubelet's message for an infeasible resize: memory when memory is
/// what exceeds allocatable, else CPU (millicores; memory in bytes).
fn infeasible_message(request: (f64, f64), room: Room) -> String {
    let detail = if request.1 > room.memory_allocatable + FIT_SLACK {
        format!(
            "memory, requested: {}, capacity: {}",
            request.1.round() as i64,
            room.memory_allocatable.round() as i64
        )
    } else {
        format!(
            "cpu, requested: {}, capacity: {}",
            millicores(request.0),
            millicores(room.cpu_allocatable)
        )
    };
    format!("Node didn't have enough capacity: {detail}")
}

/// The admission message of a deferred resize (noderesources' fit error):
/// the pod's new request against what the node's other pods use.
fn deferred_message(request: (f64, f64), reserved: (f64, f64), room: Room) -> String {
    let used_cpu = room.cpu_allocatable - room.cpu_free - reserved.0;
    let used_memory = room.memory_allocatable - room.memory_free - reserved.1;
    let cpu_fits = request.0 <= room.cpu_allocatable - used_cpu + FIT_SLACK;
    let memory_fits = request.1 <= room.memory_allocatable - used_memory + FIT_SLACK;
    let detail = if cpu_fits && !memory_fits {
        format!(
            "memory, requested: {}, used: {}, capacity: {}",
            request.1.round() as i64,
            used_memory.round() as i64,
            room.memory_allocatable.round() as i64
        )
    } else {
        format!(
            "cpu, requested: {}, used: {}, capacity: {}",
            millicores(request.0),
            millicores(used_cpu),
            millicores(room.cpu_allocatable)
        )
    };
    format!("Node didn't have enough resource: {detail}")
}

/// Resize rounds come this often (uniform, minutes).
const RESIZE_EVERY_MINUTES: (i64, i64) = (120, 240);

/// VPA in in-place mode: every few hours it resizes the main container of
/// some running Deployment pods (about one in 60, 1 to 25 a round; pods
/// under pod-level resources are left alone). What it asks is drawn by
/// [`vpa_recommendation`]; what the pod gets is the kubelet's verdict.
fn resize_round(
    life: &mut Life,
    pods: &mut BTreeMap<(String, String), PodModel>,
    store: &Etcd,
    at: DateTime<Utc>,
) -> Result<(), EtcdError> {
    let (low, high) = RESIZE_EVERY_MINUTES;
    let next = low + life.shapes.below((high - low) as usize + 1) as i64;
    life.schedule(at + Duration::minutes(next), Happening::ResizeRound);
    let candidates: Vec<(String, String)> = life
        .deployments
        .iter()
        .filter(|d| d.template.sizing.pod_level.is_none())
        .flat_map(|d| {
            d.pods
                .iter()
                .map(|p| (d.owner.namespace.clone(), p.clone()))
        })
        .filter(|key| pods.contains_key(key))
        .collect();
    if candidates.is_empty() {
        return Ok(());
    }
    let count = (candidates.len() / 60).clamp(1, 25);
    for _ in 0..count {
        let (namespace, pod) = candidates[life.shapes.below(candidates.len())].clone();
        let Some(model) = pods.get(&(namespace.clone(), pod.clone())) else {
            continue;
        };
        let (Some(main), Some(room)) = (model.containers.first(), life.scheduler.room(&model.node))
        else {
            continue;
        };
        let resources = vpa_recommendation(&mut life.shapes, main.resources, room);
        let resize = PlannedResize {
            namespace,
            pod,
            container: main.name.clone(),
            resources,
            outcome: None,
        };
        resize_pod(life, pods, store, &resize, at)?;
    }
    Ok(())
}

/// What VPA asks for a container: mostly its requests (and limits, in
/// proportion) 20–50 % up or down; one ask in ten is a CPU recommendation
/// beyond the node's allocatable (so `Infeasible`), one in ten more CPU
/// than the node has free (so `Deferred`, or `Infeasible` on a small node).
fn vpa_recommendation(rng: &mut Rng, current: Requirements, room: Room) -> Requirements {
    let cpu = current.cpu_request_cores.unwrap_or(0.1);
    let draw = rng.unit();
    let (cpu_factor, memory_factor) = if draw < 0.1 {
        (room.cpu_allocatable * 1.25 / cpu, 1.0)
    } else if draw < 0.2 {
        ((cpu + room.cpu_free.max(0.0) + 0.25) / cpu, 1.0)
    } else {
        let change = 0.2 + 0.3 * rng.unit();
        let factor = if rng.unit() < 0.5 {
            1.0 + change
        } else {
            1.0 - change
        };
        (factor, factor)
    };
    let mut resized = current;
    resized.scale(cpu_factor, memory_factor);
    resized
}

/// Starts a rolling update: a new ReplicaSet takes over pod by pod.
fn rollout(
    life: &mut Life,
    store: &Etcd,
    index: usize,
    at: DateTime<Utc>,
) -> Result<(), EtcdError> {
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
    store: &Etcd,
    index: usize,
    at: DateTime<Utc>,
) -> Result<(), EtcdError> {
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
