//! What a pod holds on its node: kube-scheduler's effective request, split
//! into what each container is billed and what the pod holds beyond them.
//!
//! The rule is Kubernetes' own (`k8s.io/component-helpers/resource`
//! `PodRequests`): the containers' requests plus the native sidecars', or the
//! largest regular init container together with the sidecars declared before
//! it if that is more; a pod-level request (`spec.resources`) replaces that
//! aggregate for CPU and memory; the RuntimeClass overhead comes on top. One
//! deliberate difference: a container's request is what the kubelet
//! *granted* (`allocatedResources`, and what it actuated), never a desired
//! spec that an in-place resize has not (yet) applied — the scheduler also
//! holds a pending, feasible resize's spec as a precaution, but the pod cannot
//! use it, so it stays the node's idle cost.

/// The `container` of the `allocation` row that bills what the scheduler
/// holds for a pod beyond its containers' requests and overhead: a regular
/// init container larger than them, or a pod-level request no container
/// claims. Container names are DNS labels, so no real container has it.
pub const RESERVED: &str = "__reserved__";
/// The `container` of the `allocation` row that bills a pod's RuntimeClass
/// overhead.
pub const OVERHEAD: &str = "__overhead__";

/// Whether an `allocation` row's `container` is one of a pod's own rows
/// ([`RESERVED`], [`OVERHEAD`]): billed like a container, but nothing runs
/// in it to right-size.
pub fn is_pod_row(container: &str) -> bool {
    container == RESERVED || container == OVERHEAD
}

/// A request per resource; `None` when the container has none of its own.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Requests {
    pub cpu_cores: Option<f64>,
    pub memory_bytes: Option<i64>,
}

/// An amount of CPU and memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Amount {
    pub cpu_cores: f64,
    pub memory_bytes: i64,
}

/// One container as the spec declares it and the kubelet reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Demand {
    /// `resources.requests`, a limit standing in for a missing request as
    /// the API server defaults it.
    pub spec: Requests,
    /// `status.containerStatuses[].allocatedResources`: what the kubelet
    /// admitted. `None` when the status carries no such map.
    pub allocated: Option<Requests>,
    /// `status.containerStatuses[].resources.requests`: what runs now.
    pub actuated: Option<Requests>,
}

impl Demand {
    /// What the kubelet granted: the larger of what it admitted and what
    /// it actuated (they differ while a resize is in progress), or the spec
    /// when the status says neither (a kubelet before in-place resize).
    pub fn granted(&self) -> Requests {
        if self.allocated.is_none() && self.actuated.is_none() {
            return self.spec;
        }
        let both = [self.allocated, self.actuated];
        let present = both.iter().flatten();
        Requests {
            cpu_cores: present.clone().filter_map(|r| r.cpu_cores).reduce(f64::max),
            memory_bytes: present.filter_map(|r| r.memory_bytes).max(),
        }
    }
}

/// An init container: a native sidecar (`restartPolicy: Always`) runs for
/// the pod's life; any other runs to completion before the containers start.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InitDemand {
    pub demand: Demand,
    pub sidecar: bool,
}

/// Everything the scheduler's rule reads of a pod.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodDemand {
    /// `spec.containers`, in order.
    pub containers: Vec<Demand>,
    /// `spec.initContainers`, in order (the order decides which sidecars
    /// run beside an init container).
    pub init: Vec<InitDemand>,
    /// `spec.resources.requests` (pod-level resources).
    pub pod: Requests,
    /// `status.allocatedResources` and `status.resources.requests` of the
    /// pod (in-place resize of pod-level resources); they include the overhead.
    pub pod_allocated: Option<Requests>,
    pub pod_actuated: Option<Requests>,
    /// `spec.overhead`, set from the pod's RuntimeClass.
    pub overhead: Amount,
}

/// What the pod is billed for, by part.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reservation {
    /// Each container's billed request: `spec.containers` first, then the
    /// native sidecars in `spec.initContainers` order.
    pub containers: Vec<Requests>,
    /// What the pod holds beyond its containers and its overhead: a regular
    /// init container larger than the containers, or the part of a
    /// pod-level request that no container claims.
    pub reserved: Amount,
    pub overhead: Amount,
}

impl Reservation {
    /// The pod's effective request: what the scheduler holds on the node.
    pub fn total(&self) -> Amount {
        let mut total = Amount {
            cpu_cores: self.reserved.cpu_cores + self.overhead.cpu_cores,
            memory_bytes: self.reserved.memory_bytes + self.overhead.memory_bytes,
        };
        for container in &self.containers {
            total.cpu_cores += container.cpu_cores.unwrap_or(0.0);
            total.memory_bytes += container.memory_bytes.unwrap_or(0);
        }
        total
    }
}

/// The pod's reservation by Kubernetes' rule (see the module doc).
pub fn reserve(pod: &PodDemand) -> Reservation {
    let mut granted: Vec<Requests> = pod.containers.iter().map(Demand::granted).collect();
    granted.extend(
        pod.init
            .iter()
            .filter(|i| i.sidecar)
            .map(|i| i.demand.granted()),
    );
    let pod_level = pod_level_requests(pod);
    let cpu = split(
        granted.iter().map(|r| r.cpu_cores).collect(),
        init_floor(pod, |r| r.cpu_cores.unwrap_or(0.0), |a, b| a + b, f64::max),
        pod_level.cpu_cores,
    );
    let memory = split(
        granted.iter().map(|r| r.memory_bytes).collect(),
        init_floor(pod, |r| r.memory_bytes.unwrap_or(0), |a, b| a + b, i64::max),
        pod_level.memory_bytes,
    );
    Reservation {
        containers: cpu
            .containers
            .iter()
            .zip(&memory.containers)
            .map(|(cpu_cores, memory_bytes)| Requests {
                cpu_cores: *cpu_cores,
                memory_bytes: *memory_bytes,
            })
            .collect(),
        reserved: Amount {
            cpu_cores: cpu.reserved,
            memory_bytes: memory.reserved,
        },
        overhead: pod.overhead,
    }
}

/// The pod-level request per resource: what the kubelet granted the pod
/// (its status, which counts the overhead in) when it says, else the spec.
fn pod_level_requests(pod: &PodDemand) -> Requests {
    let status = [pod.pod_allocated, pod.pod_actuated];
    let reported = status.iter().flatten();
    let cpu = reported
        .clone()
        .filter_map(|r| r.cpu_cores)
        .reduce(f64::max)
        .map(|c| (c - pod.overhead.cpu_cores).max(0.0));
    let memory = reported
        .filter_map(|r| r.memory_bytes)
        .max()
        .map(|m| (m - pod.overhead.memory_bytes).max(0));
    Requests {
        cpu_cores: pod.pod.cpu_cores.and(cpu.or(pod.pod.cpu_cores)),
        memory_bytes: pod.pod.memory_bytes.and(memory.or(pod.pod.memory_bytes)),
    }
}

/// The largest regular init container with the sidecars declared before it,
/// or the sidecars alone: the least the pod holds while it starts.
fn init_floor<T: Copy + Default>(
    pod: &PodDemand,
    value: impl Fn(&Requests) -> T,
    add: impl Fn(T, T) -> T,
    max: impl Fn(T, T) -> T,
) -> T {
    let (mut sidecars, mut floor) = (T::default(), T::default());
    for init in &pod.init {
        let own = value(&init.demand.granted());
        let holds = if init.sidecar {
            sidecars = add(sidecars, own);
            sidecars
        } else {
            add(own, sidecars)
        };
        floor = max(floor, holds);
    }
    floor
}

/// One resource's split over the billed containers and the pod's reserve.
struct Split<T> {
    containers: Vec<Option<T>>,
    reserved: T,
}

/// Arithmetic the split needs of cores (f64) and bytes (i64).
trait Share:
    Copy + Default + PartialOrd + std::ops::Add<Output = Self> + std::ops::Sub<Output = Self>
{
    /// `self` in `parts` shares, the first ones taking any indivisible rest.
    fn shares(self, parts: usize) -> Vec<Self>;
    /// `self × part / whole`.
    fn scale(self, part: Self, whole: Self) -> Self;
}

impl Share for f64 {
    fn shares(self, parts: usize) -> Vec<f64> {
        vec![self / parts as f64; parts]
    }

    fn scale(self, part: f64, whole: f64) -> f64 {
        self * part / whole
    }
}

impl Share for i64 {
    fn shares(self, parts: usize) -> Vec<i64> {
        let count = i64::try_from(parts).unwrap_or(i64::MAX).max(1);
        let (each, rest) = (self / count, self % count);
        (0..count).map(|i| each + i64::from(i < rest)).collect()
    }

    fn scale(self, part: i64, whole: i64) -> i64 {
        (i128::from(self) * i128::from(part) / i128::from(whole).max(1)) as i64
    }
}

/// Splits one resource: each container keeps what it was granted; without
/// a pod-level request, an init container's excess over the containers is
/// the pod's reserve; with one, the pod-level request is the total, the
/// part no container claims is shared equally by the containers without a
/// request of their own (or is the pod's reserve when all have one), and
/// explicit requests above it are scaled down to it.
fn split<T: Share>(granted: Vec<Option<T>>, init_floor: T, pod_level: Option<T>) -> Split<T> {
    let explicit = granted
        .iter()
        .flatten()
        .fold(T::default(), |sum, v| sum + *v);
    let Some(total) = pod_level else {
        let reserved = if init_floor > explicit {
            init_floor - explicit
        } else {
            T::default()
        };
        return Split {
            containers: granted,
            reserved,
        };
    };
    if explicit > total {
        return Split {
            containers: granted
                .iter()
                .map(|v| Some(v.map_or(T::default(), |v| v.scale(total, explicit))))
                .collect(),
            reserved: T::default(),
        };
    }
    let missing = granted.iter().filter(|v| v.is_none()).count();
    let unclaimed = total - explicit;
    if missing == 0 {
        return Split {
            containers: granted,
            reserved: unclaimed,
        };
    }
    let mut shares = unclaimed.shares(missing).into_iter();
    Split {
        containers: granted
            .iter()
            .map(|v| v.or_else(|| shares.next()))
            .collect(),
        reserved: T::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GI: i64 = 1 << 30;

    fn requests(cpu: f64, memory_gib: i64) -> Requests {
        Requests {
            cpu_cores: Some(cpu),
            memory_bytes: Some(memory_gib * GI),
        }
    }

    fn spec(cpu: f64, memory_gib: i64) -> Demand {
        Demand {
            spec: requests(cpu, memory_gib),
            ..Demand::default()
        }
    }

    fn init(cpu: f64, memory_gib: i64, sidecar: bool) -> InitDemand {
        InitDemand {
            demand: spec(cpu, memory_gib),
            sidecar,
        }
    }

    fn amount(cpu: f64, memory_gib: i64) -> Amount {
        Amount {
            cpu_cores: cpu,
            memory_bytes: memory_gib * GI,
        }
    }

    #[test]
    fn containers_alone_hold_their_sum_and_nothing_more() {
        let pod = PodDemand {
            containers: vec![spec(1.0, 1), spec(0.5, 2)],
            ..PodDemand::default()
        };
        let reservation = reserve(&pod);
        assert_eq!(reservation.containers, [requests(1.0, 1), requests(0.5, 2)]);
        assert_eq!(reservation.reserved, Amount::default());
        assert_eq!(reservation.total(), amount(1.5, 3));
    }

    #[test]
    fn an_init_container_larger_than_the_containers_holds_its_request_for_the_pods_life() {
        // PodRequests: max(Σ containers, max init) per resource: CPU from the
        // init container (4 > 1.5), memory from the containers (3 > 1).
        let pod = PodDemand {
            containers: vec![spec(1.0, 1), spec(0.5, 2)],
            init: vec![init(4.0, 1, false)],
            ..PodDemand::default()
        };
        let reservation = reserve(&pod);
        assert_eq!(reservation.reserved, amount(2.5, 0));
        assert_eq!(reservation.total(), amount(4.0, 3));
    }

    #[test]
    fn a_sidecar_declared_before_an_init_container_runs_beside_it() {
        // KEP-753: InitContainerUse(i) = Σ sidecars before i + init i.
        // sidecar 1 core, then init 2 cores: 3 while initialising; afterwards
        // container 1 + sidecar 1 = 2, so the pod holds 3.
        let pod = PodDemand {
            containers: vec![spec(1.0, 1)],
            init: vec![init(1.0, 1, true), init(2.0, 1, false)],
            ..PodDemand::default()
        };
        let reservation = reserve(&pod);
        assert_eq!(
            reservation.containers,
            [requests(1.0, 1), requests(1.0, 1)],
            "the sidecar is billed like a container"
        );
        assert_eq!(reservation.total(), amount(3.0, 2));
        assert_eq!(reservation.reserved, amount(1.0, 0));
    }

    #[test]
    fn a_sidecar_declared_after_an_init_container_does_not_add_to_it() {
        let pod = PodDemand {
            containers: vec![spec(1.0, 1)],
            init: vec![init(2.0, 1, false), init(1.0, 1, true)],
            ..PodDemand::default()
        };
        assert_eq!(reserve(&pod).total(), amount(2.0, 2));
        assert_eq!(reserve(&pod).reserved, Amount::default());
    }

    #[test]
    fn overhead_comes_on_top_of_everything_else() {
        let pod = PodDemand {
            containers: vec![spec(1.0, 1)],
            init: vec![init(2.0, 1, false)],
            overhead: Amount {
                cpu_cores: 0.25,
                memory_bytes: 64 << 20,
            },
            ..PodDemand::default()
        };
        let reservation = reserve(&pod);
        assert_eq!(reservation.overhead.cpu_cores, 0.25);
        assert_eq!(reservation.total().cpu_cores, 2.25);
        assert_eq!(reservation.total().memory_bytes, GI + (64 << 20));
    }

    #[test]
    fn a_pod_level_request_is_shared_by_the_containers_without_their_own() {
        let pod = PodDemand {
            containers: vec![spec(0.5, 1), Demand::default(), Demand::default()],
            pod: requests(2.0, 4),
            ..PodDemand::default()
        };
        let reservation = reserve(&pod);
        assert_eq!(
            reservation.containers,
            [
                requests(0.5, 1),
                Requests {
                    cpu_cores: Some(0.75),
                    memory_bytes: Some(3 * GI / 2)
                },
                Requests {
                    cpu_cores: Some(0.75),
                    memory_bytes: Some(3 * GI / 2)
                },
            ]
        );
        assert_eq!(reservation.total(), amount(2.0, 4));
    }

    #[test]
    fn a_pod_level_request_no_container_claims_is_the_pods_reserve() {
        // Every container has its own request: the rest of the pod-level
        // request (and it replaces a larger init container) is reserved.
        let pod = PodDemand {
            containers: vec![spec(0.5, 1), spec(0.5, 1)],
            init: vec![init(8.0, 1, false)],
            pod: Requests {
                cpu_cores: Some(2.0),
                memory_bytes: None,
            },
            ..PodDemand::default()
        };
        let reservation = reserve(&pod);
        assert_eq!(reservation.reserved.cpu_cores, 1.0);
        assert_eq!(
            reservation.total(),
            amount(2.0, 2),
            "memory stays the containers' sum"
        );
    }

    #[test]
    fn bytes_shared_unevenly_still_add_up_to_the_pod_level_request() {
        let pod = PodDemand {
            containers: vec![Demand::default(); 3],
            pod: Requests {
                cpu_cores: None,
                memory_bytes: Some(1000),
            },
            ..PodDemand::default()
        };
        let reservation = reserve(&pod);
        let bytes: Vec<i64> = reservation
            .containers
            .iter()
            .filter_map(|r| r.memory_bytes)
            .collect();
        assert_eq!(bytes, [334, 333, 333]);
        assert_eq!(reservation.total().memory_bytes, 1000);
    }

    #[test]
    fn a_resize_bills_what_the_kubelet_granted_not_the_desired_spec() {
        let resized = |allocated: f64, actuated: f64| Demand {
            spec: requests(2.0, 1),
            allocated: Some(requests(allocated, 1)),
            actuated: Some(requests(actuated, 1)),
        };
        let billed = |demand: Demand| demand.granted().cpu_cores;
        // Deferred or infeasible: the spec asks 2, the pod still runs with 1.
        assert_eq!(billed(resized(1.0, 1.0)), Some(1.0));
        // Upsize in progress: admitted 2, not yet actuated: the node holds 2.
        assert_eq!(billed(resized(2.0, 1.0)), Some(2.0));
        // Downsize in progress: admitted 0.5, still running with 1.
        assert_eq!(billed(resized(0.5, 1.0)), Some(1.0));
        // A kubelet that reports neither: the spec.
        assert_eq!(billed(spec(2.0, 1)), Some(2.0));
    }

    #[test]
    fn a_pod_level_status_is_granted_and_counts_the_overhead_in() {
        let pod = PodDemand {
            containers: vec![Demand::default()],
            pod: requests(4.0, 4),
            pod_allocated: Some(requests(2.25, 2)),
            pod_actuated: Some(requests(2.25, 2)),
            overhead: Amount {
                cpu_cores: 0.25,
                memory_bytes: 0,
            },
            ..PodDemand::default()
        };
        let reservation = reserve(&pod);
        assert_eq!(reservation.containers, [requests(2.0, 2)]);
        assert_eq!(reservation.total(), amount(2.25, 2));
    }
}
