//! Leader election on a `coordination.k8s.io/v1` Lease, so two replicas of
//! the collector can run and only one samples and writes.
//!
//! The protocol is client-go's `leaderelection` with a Lease lock: the
//! holder renews `renewTime` every retry period; a candidate takes the lease
//! over only when the record has not changed for a whole lease duration *by
//! its own clock* (it never compares the holder's timestamps with its own, so
//! clock skew between nodes cannot make two leaders); every write carries the
//! `resourceVersion` it read, so of two candidates racing for an expired
//! lease one gets 409 Conflict. A leader that cannot renew within the renew
//! deadline (shorter than the lease duration) stops leading before anyone
//! else may start. On shutdown the holder releases the lease so a follower
//! takes over at its next retry instead of after a lease duration.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tracing::info;

use super::event::Event;
use super::stats::Stats;

/// Who competes for which lease, and the timing (client-go's defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderConfig {
    pub lease_name: String,
    pub namespace: String,
    /// This replica's name in `holderIdentity` (the pod name).
    pub identity: String,
    /// How long a lease that stopped changing is still honoured.
    pub lease_duration: Duration,
    /// A leader that could not renew for this long stops leading.
    pub renew_deadline: Duration,
    /// Time between attempts to acquire or renew.
    pub retry_period: Duration,
}

impl LeaderConfig {
    /// client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry.
    pub fn new(lease_name: String, namespace: String, identity: String) -> LeaderConfig {
        LeaderConfig {
            lease_name,
            namespace,
            identity,
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// What the elector publishes to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Leadership {
    pub leading: bool,
    /// Leading since a takeover from another holder (or a first
    /// acquisition), as opposed to renewing a lease this identity already
    /// held before a restart: only then may a replayed write-ahead log be
    /// stale (the other leader published those hours).
    pub took_over: bool,
}

/// Why one attempt failed.
#[derive(Debug, thiserror::Error)]
#[error("lease {namespace}/{name}")]
pub struct LeaseError {
    pub(super) namespace: String,
    pub(super) name: String,
    #[source]
    pub(super) cause: kube::Error,
}

/// The outcome of one attempt to acquire or renew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// We hold the lease; `took_over` when we were not the holder before.
    Held { took_over: bool },
    /// Somebody else holds a live lease, or won a race for it.
    Lost,
}

/// The candidate's state between attempts.
struct Elector {
    api: Api<Lease>,
    config: LeaderConfig,
    /// The last lease record seen (holder, renew time, resourceVersion) and
    /// when, by our clock, it last changed.
    observed: Option<(String, Instant)>,
}

fn is_status(error: &kube::Error, code: u16) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == code)
}

impl Elector {
    fn error(&self, cause: kube::Error) -> LeaseError {
        LeaseError {
            namespace: self.config.namespace.clone(),
            name: self.config.lease_name.clone(),
            cause,
        }
    }

    fn spec(&self, acquire_time: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.config.lease_duration.as_secs()).unwrap_or(i32::MAX),
            ),
            acquire_time: acquire_time.or_else(|| Some(MicroTime(Timestamp::now()))),
            renew_time: Some(MicroTime(Timestamp::now())),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    async fn attempt(&mut self) -> Result<Attempt, LeaseError> {
        let name = self.config.lease_name.clone();
        let current = match self.api.get_opt(&name).await {
            Ok(current) => current,
            Err(cause) => return Err(self.error(cause)),
        };
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(None, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                // Nobody led before: a log this replica replays is its own.
                Ok(_) => Ok(Attempt::Held { took_over: false }),
                Err(cause) if is_status(&cause, 409) => Ok(Attempt::Lost),
                Err(cause) => Err(self.error(cause)),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let record = format!(
            "{holder}|{:?}|{}",
            spec.renew_time.as_ref().map(|t| t.0),
            lease
                .metadata
                .resource_version
                .as_deref()
                .unwrap_or_default()
        );
        let now = Instant::now();
        let changed_at = match &self.observed {
            Some((seen, at)) if *seen == record => *at,
            _ => {
                self.observed = Some((record, now));
                now
            }
        };
        let mine = holder == self.config.identity;
        // A lease held by somebody else is theirs until its record stood
        // still for a whole lease duration (a released lease has no holder).
        if !mine
            && !holder.is_empty()
            && now.duration_since(changed_at) < self.config.lease_duration
        {
            return Ok(Attempt::Lost);
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        lease.spec = Some(if mine {
            self.spec(spec.acquire_time, transitions)
        } else {
            self.spec(None, transitions.saturating_add(1))
        });
        match self
            .api
            .replace(&name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(Attempt::Held { took_over: !mine }),
            Err(cause) if is_status(&cause, 409) => Ok(Attempt::Lost),
            Err(cause) => Err(self.error(cause)),
        }
    }

    /// Gives the lease up (no holder) so a follower need not wait it out.
    async fn release(&mut self) -> Result<(), LeaseError> {
        let name = self.config.lease_name.clone();
        let Some(mut lease) = self.api.get_opt(&name).await.map_err(|e| self.error(e))? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(&*self.config.identity) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match self
            .api
            .replace(&name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            Err(cause) if is_status(&cause, 409) => Ok(()),
            Err(cause) => Err(self.error(cause)),
        }
    }
}

/// Competes for the lease until `stop` flips to true, publishing the
/// current leadership on `leadership`; releases the lease on the way out
/// if it holds it. API errors are [`Event::LeaseFailed`] and retried; they
/// never end the loop.
pub async fn elect(
    client: Client,
    config: LeaderConfig,
    leadership: watch::Sender<Leadership>,
    mut stop: watch::Receiver<bool>,
    stats: std::sync::Arc<Stats>,
) {
    let api = Api::namespaced(client, &config.namespace);
    let retry = config.retry_period;
    let deadline = config.renew_deadline;
    let mut elector = Elector {
        api,
        config,
        observed: None,
    };
    let mut renewed: Option<Instant> = None;
    loop {
        let was = *leadership.borrow();
        let next = match elector.attempt().await {
            Ok(Attempt::Held { took_over }) => {
                renewed = Some(Instant::now());
                Leadership {
                    leading: true,
                    took_over: if was.leading {
                        was.took_over
                    } else {
                        took_over
                    },
                }
            }
            Ok(Attempt::Lost) => Leadership::default(),
            Err(source) => {
                Event::LeaseFailed { source }.emit(&stats);
                // Keep leading only while the last renewal is recent enough
                // that nobody else may have taken the lease over.
                if was.leading && renewed.is_some_and(|at| at.elapsed() < deadline) {
                    was
                } else {
                    Leadership::default()
                }
            }
        };
        if next.leading != was.leading {
            if next.leading {
                info!(
                    identity = %elector.config.identity,
                    lease = %elector.config.lease_name,
                    took_over = next.took_over,
                    "acquired the lease: leading"
                );
            } else {
                Event::LeaseLost {
                    identity: elector.config.identity.clone(),
                }
                .emit(&stats);
            }
        }
        Stats::set(&stats.leader, u64::from(next.leading));
        leadership.send_replace(next);
        tokio::select! {
            () = tokio::time::sleep(retry) => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
    }
    if leadership.borrow().leading {
        leadership.send_replace(Leadership::default());
        Stats::set(&stats.leader, 0);
        match elector.release().await {
            Ok(()) => info!("released the lease"),
            Err(source) => Event::LeaseReleaseFailed { source }.emit(&stats),
        }
    }
}
