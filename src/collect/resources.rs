//! The versions of disks and load balancers over the open hours: what the
//! inventory held at each tick, recorded only when it changed.
//!
//! Each hour keeps its own versions, seeded with everything alive when the
//! hour's first tick came, so an hour is closed (and its write-ahead log
//! replayed) without the hours before it.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::allocate::{ResourceHour, ResourceVersion};
use crate::cluster::{BilledKind, Collection, Inventory, SlimResource};
use crate::store::wal::ResourceEntry;

type Key = (BilledKind, Arc<str>);

const WATCHED: [Collection; 4] = [
    Collection::StorageClasses,
    Collection::PersistentVolumes,
    Collection::PersistentVolumeClaims,
    Collection::Services,
];

/// Disks and load balancers by hour.
#[derive(Debug, Default)]
pub struct ResourceTrack {
    hours: BTreeMap<DateTime<Utc>, ResourceHour>,
    /// What each live resource is now.
    current: BTreeMap<Key, Arc<SlimResource>>,
    /// The inventory's storage generation last compared.
    seen_generation: Option<u64>,
}

impl ResourceTrack {
    /// Records the tick at `now`, of `hour`: new, changed and vanished
    /// resources become versions; a new hour starts with every live one.
    /// Until the watches of storage and Services have listed once, nothing
    /// is concluded (an empty inventory is not a cluster without disks).
    pub fn observe(
        &mut self,
        inventory: &Inventory,
        now: DateTime<Utc>,
        hour: DateTime<Utc>,
        log: &mut Vec<ResourceEntry>,
    ) {
        if !self.hours.contains_key(&hour) {
            let seeded: ResourceHour = self
                .current
                .iter()
                .map(|(key, resource)| {
                    let version = ResourceVersion {
                        since: hour,
                        resource: Some(resource.clone()),
                    };
                    log.push((hour, key.0, key.1.clone(), version.clone()));
                    (key.clone(), vec![version])
                })
                .collect();
            self.hours.insert(hour, seeded);
        }
        if !WATCHED.iter().all(|c| inventory.synced(*c)) {
            return;
        }
        let generation = inventory.storage().generation();
        if self.seen_generation == Some(generation) {
            return;
        }
        // At the first look (start-up, or after a replay) everything seen
        // may have cost since before the collector: from its creation.
        let first_look = self.seen_generation.is_none();
        self.seen_generation = Some(generation);
        let mut gone: BTreeMap<Key, Arc<SlimResource>> = std::mem::take(&mut self.current);
        let Some(versions) = self.hours.get_mut(&hour) else {
            return;
        };
        let mut record = |key: &Key, version: ResourceVersion| {
            log.push((hour, key.0, key.1.clone(), version.clone()));
            versions.entry(key.clone()).or_default().push(version);
        };
        for resource in inventory.storage().resources() {
            let key = (resource.kind, resource.id.clone());
            match gone.remove(&key) {
                Some(known) if *known == resource => {
                    self.current.insert(key, known);
                }
                known => {
                    // First sight: a disk costs from its creation; a load
                    // balancer from when it got its address, which is now
                    // unless the collector is only starting to look.
                    let since = match (&known, resource.kind, resource.created) {
                        (None, BilledKind::Disk, Some(created)) => created.clamp(hour, now),
                        (None, BilledKind::LoadBalancer, Some(created)) if first_look => {
                            created.clamp(hour, now)
                        }
                        _ => now,
                    };
                    let resource = Arc::new(resource);
                    record(
                        &key,
                        ResourceVersion {
                            since,
                            resource: Some(resource.clone()),
                        },
                    );
                    self.current.insert(key, resource);
                }
            }
        }
        for key in gone.into_keys() {
            record(
                &key,
                ResourceVersion {
                    since: now,
                    resource: None,
                },
            );
        }
    }

    /// The versions of `hour`, for closing it.
    pub fn take(&mut self, hour: DateTime<Utc>) -> ResourceHour {
        self.hours.remove(&hour).unwrap_or_default()
    }

    /// Forgets hours before `hour` (already closed).
    pub fn forget_before(&mut self, hour: DateTime<Utc>) {
        self.hours = self.hours.split_off(&hour);
    }

    /// Restores logged versions (in log order); what the newest hour says
    /// is alive is what is current.
    pub fn replay(&mut self, entries: Vec<ResourceEntry>) {
        for (hour, kind, id, version) in entries {
            let versions = self
                .hours
                .entry(hour)
                .or_default()
                .entry((kind, id))
                .or_default();
            if !versions.contains(&version) {
                let at = versions.partition_point(|v| v.since <= version.since);
                versions.insert(at, version);
            }
        }
        self.current = self
            .hours
            .values()
            .next_back()
            .map(|newest| {
                newest
                    .iter()
                    .filter_map(|(key, versions)| {
                        Some((key.clone(), versions.last()?.resource.clone()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.seen_generation = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{SlimVolume, VolumePhase};
    use chrono::Duration;

    fn synced_inventory() -> Inventory {
        let mut inventory = Inventory::default();
        for collection in WATCHED {
            inventory.relist_begin(collection);
            inventory.relist_done(collection);
        }
        inventory
    }

    fn volume(gib: i64) -> SlimVolume {
        SlimVolume {
            name: "pv-1".into(),
            created: Some(crate::sim::epoch() - Duration::days(1)),
            capacity_bytes: gib << 30,
            driver: "pd.csi.storage.gke.io".into(),
            phase: VolumePhase::Available,
            ..SlimVolume::default()
        }
    }

    #[test]
    fn a_change_is_a_version_a_new_hour_is_seeded_and_a_deletion_ends_it() {
        let t0 = crate::sim::epoch();
        let mut inventory = synced_inventory();
        let mut track = ResourceTrack::default();
        let mut log = Vec::new();
        inventory.apply_volume(volume(10));
        track.observe(&inventory, t0 + Duration::minutes(1), t0, &mut log);
        track.observe(&inventory, t0 + Duration::minutes(2), t0, &mut log);
        inventory.apply_volume(volume(20));
        track.observe(&inventory, t0 + Duration::minutes(30), t0, &mut log);
        let next = t0 + Duration::hours(1);
        track.observe(&inventory, next + Duration::minutes(1), next, &mut log);
        inventory.delete_volume("pv-1");
        track.observe(&inventory, next + Duration::minutes(5), next, &mut log);
        assert_eq!(log.len(), 4, "first sight, resize, seed, deletion: {log:?}");
        let first = track.take(t0);
        let versions = &first[&(BilledKind::Disk, Arc::from("pv-1"))];
        assert_eq!(versions.len(), 2);
        assert_eq!(
            versions[0].since, t0,
            "created before the hour: from its start"
        );
        assert_eq!(versions[1].since, t0 + Duration::minutes(30));
        let second = track.take(next);
        let versions = &second[&(BilledKind::Disk, Arc::from("pv-1"))];
        assert_eq!(versions[0].since, next);
        assert_eq!(versions[1].resource, None);

        let mut replayed = ResourceTrack::default();
        replayed.replay(log);
        assert!(replayed.current.is_empty(), "deleted in the newest hour");
        assert_eq!(replayed.take(t0), first);
    }

    #[test]
    fn nothing_is_concluded_before_the_watches_have_listed() {
        let t0 = crate::sim::epoch();
        let mut inventory = Inventory::default();
        let mut track = ResourceTrack::default();
        let mut log = Vec::new();
        inventory.apply_volume(volume(10));
        track.observe(&inventory, t0 + Duration::minutes(1), t0, &mut log);
        assert!(log.is_empty());
    }
}
