//! The simulated API server's object store, in etcd's role (named for it so it
//! is not mistaken for [`crate::store`], the dataset).
//!
//! Objects are kept serialized (one `Arc<str>` of JSON each) with the few
//! fields selectors need beside them, because lists and watches send JSON and
//! 150,000 parsed pods would cost several times the memory. Every write takes
//! the next cluster-wide `resourceVersion` and appends an event to a bounded
//! log; a watch from a version older than the log's start gets `Expired`
//! (410), exactly what a real server says after etcd compaction.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock};

use serde_json::Value;
use tokio::sync::broadcast;

use super::resources::Resource;
use super::selector::{
    FIELD_NAME, FIELD_NAMESPACE, FIELD_NODE_NAME, FIELD_PHASE, FieldSelector, LabelSelector,
};

/// One stored object: its JSON and what selectors read.
#[derive(Debug)]
pub struct Stored {
    pub resource_version: u64,
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub node_name: String,
    pub phase: String,
    pub json: Arc<str>,
}

impl Stored {
    fn field(&self, field: &str) -> String {
        match field {
            FIELD_NAME => self.name.clone(),
            FIELD_NAMESPACE => self.namespace.clone(),
            FIELD_NODE_NAME => self.node_name.clone(),
            FIELD_PHASE => self.phase.clone(),
            _ => String::new(),
        }
    }

    /// Whether the object passes both selectors.
    pub fn matches(&self, labels: &LabelSelector, fields: &FieldSelector) -> bool {
        labels.matches(&self.labels) && fields.matches(|f| self.field(f))
    }

    /// The stored object, parsed.
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.json).unwrap_or(Value::Null)
    }
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches stream it.
#[derive(Debug)]
pub struct Event {
    pub resource: Resource,
    pub kind: EventType,
    pub object: Arc<Stored>,
}

/// Why a store operation was refused; each maps to a Kubernetes `Status` reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcdError {
    #[error("{plural} \"{name}\" not found")]
    NotFound { plural: &'static str, name: String },
    #[error("{plural} \"{name}\" already exists")]
    AlreadyExists { plural: &'static str, name: String },
    #[error(
        "Operation cannot be fulfilled on {plural} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict { plural: &'static str, name: String },
    #[error("too old resource version: {requested} ({oldest})")]
    Expired { requested: u64, oldest: u64 },
    #[error("{0}")]
    Invalid(String),
}

type Key = (String, String);

struct Inner {
    resource_version: u64,
    objects: HashMap<Resource, BTreeMap<Key, Arc<Stored>>>,
    log: VecDeque<Arc<Event>>,
    /// Watches must start after this version; older ones are compacted away.
    compacted: u64,
}

/// The object store. Cheap to share behind an `Arc`.
pub struct Etcd {
    inner: RwLock<Inner>,
    events: broadcast::Sender<Arc<Event>>,
    log_capacity: usize,
}

/// The events a new watch must replay, and the receiver of the ones to come.
pub type WatchStart = (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>);

/// One page of a list.
#[derive(Debug)]
pub struct Page {
    pub resource_version: u64,
    pub items: Vec<Arc<Stored>>,
    /// The key after which the next page starts, when there is one.
    pub next: Option<Key>,
    /// Objects after this page, when the list is unfiltered.
    pub remaining: Option<usize>,
}

impl Etcd {
    /// An empty store keeping the last `log_capacity` events for watches.
    pub fn new(log_capacity: usize) -> Etcd {
        let (events, _) = broadcast::channel(log_capacity.clamp(1024, 1 << 16));
        Etcd {
            inner: RwLock::new(Inner {
                resource_version: 1,
                objects: HashMap::new(),
                log: VecDeque::new(),
                compacted: 1,
            }),
            events,
            log_capacity,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current cluster-wide resource version.
    pub fn resource_version(&self) -> u64 {
        self.read().resource_version
    }

    /// Creates or replaces an object unconditionally (the simulator's own writes).
    ///
    /// # Errors
    ///
    /// `Invalid` for an object without a name.
    pub fn put(&self, resource: Resource, object: Value) -> Result<Arc<Stored>, EtcdError> {
        self.write_object(resource, object, Precondition::None)
    }

    /// Creates an object; refuses one that exists.
    ///
    /// # Errors
    ///
    /// [`EtcdError::AlreadyExists`], or `Invalid` for an object without a name.
    pub fn create(&self, resource: Resource, object: Value) -> Result<Arc<Stored>, EtcdError> {
        self.write_object(resource, object, Precondition::MustNotExist)
    }

    /// Replaces an object, checking `metadata.resourceVersion` when the client sent one.
    ///
    /// # Errors
    ///
    /// [`EtcdError::NotFound`], [`EtcdError::Conflict`] for a stale version.
    pub fn update(&self, resource: Resource, object: Value) -> Result<Arc<Stored>, EtcdError> {
        self.write_object(resource, object, Precondition::MustExist)
    }

    /// Deletes an object and emits `DELETED`.
    ///
    /// # Errors
    ///
    /// [`EtcdError::NotFound`].
    pub fn delete(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Stored>, EtcdError> {
        let mut inner = self.write();
        let key = (namespace.to_owned(), name.to_owned());
        let removed = inner
            .objects
            .get_mut(&resource)
            .and_then(|objects| objects.remove(&key))
            .ok_or_else(|| EtcdError::NotFound {
                plural: resource.plural,
                name: name.to_owned(),
            })?;
        inner.resource_version += 1;
        let rv = inner.resource_version;
        let mut value = removed.value();
        value["metadata"]["resourceVersion"] = Value::String(rv.to_string());
        let stored = Arc::new(Stored {
            resource_version: rv,
            json: value.to_string().into(),
            namespace: removed.namespace.clone(),
            name: removed.name.clone(),
            labels: removed.labels.clone(),
            node_name: removed.node_name.clone(),
            phase: removed.phase.clone(),
        });
        self.record(&mut inner, resource, EventType::Deleted, stored.clone());
        Ok(stored)
    }

    /// One object.
    ///
    /// # Errors
    ///
    /// [`EtcdError::NotFound`].
    pub fn get(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Stored>, EtcdError> {
        self.read()
            .objects
            .get(&resource)
            .and_then(|objects| objects.get(&(namespace.to_owned(), name.to_owned())))
            .cloned()
            .ok_or_else(|| EtcdError::NotFound {
                plural: resource.plural,
                name: name.to_owned(),
            })
    }

    /// A page of objects in key order, starting after `after`.
    pub fn list(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        labels: &LabelSelector,
        fields: &FieldSelector,
        limit: Option<usize>,
        after: Option<&Key>,
    ) -> Page {
        let inner = self.read();
        let resource_version = inner.resource_version;
        let Some(objects) = inner.objects.get(&resource) else {
            return Page {
                resource_version,
                items: Vec::new(),
                next: None,
                remaining: None,
            };
        };
        use std::ops::Bound;
        let start = match (after, namespace) {
            (Some(key), _) => Bound::Excluded(key.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_owned(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let mut candidates = objects
            .range((start, Bound::Unbounded))
            .take_while(|((ns, _), _)| namespace.is_none_or(|wanted| ns == wanted))
            .map(|(_, stored)| stored)
            .filter(|stored| stored.matches(labels, fields));
        let limit = limit.filter(|&l| l > 0).unwrap_or(usize::MAX);
        let items: Vec<Arc<Stored>> = candidates.by_ref().take(limit).cloned().collect();
        let unfiltered = labels.is_empty() && fields.is_empty();
        let rest = if items.len() == limit {
            candidates.count()
        } else {
            0
        };
        let next = (rest > 0)
            .then(|| {
                items
                    .last()
                    .map(|last| (last.namespace.clone(), last.name.clone()))
            })
            .flatten();
        Page {
            resource_version,
            remaining: (next.is_some() && unfiltered).then_some(rest),
            items,
            next,
        }
    }

    /// Events of `resource` after version `since`, and a receiver for the ones to come.
    ///
    /// # Errors
    ///
    /// [`EtcdError::Expired`] when `since` is older than the event log.
    pub fn watch_from(&self, resource: Resource, since: u64) -> Result<WatchStart, EtcdError> {
        let inner = self.read();
        let receiver = self.events.subscribe();
        if since < inner.compacted {
            return Err(EtcdError::Expired {
                requested: since,
                oldest: inner.compacted,
            });
        }
        let backlog = inner
            .log
            .iter()
            .filter(|event| event.resource == resource && event.object.resource_version > since)
            .cloned()
            .collect();
        Ok((backlog, receiver))
    }

    /// Whether `version` is older than the event log: a watch or continued
    /// list from it can no longer be served.
    pub fn is_compacted(&self, version: u64) -> bool {
        version < self.read().compacted
    }

    /// Forgets every logged event, as etcd compaction does: watches from any
    /// earlier version get 410 Expired.
    pub fn compact(&self) {
        let mut inner = self.write();
        inner.log.clear();
        inner.compacted = inner.resource_version;
    }

    fn write_object(
        &self,
        resource: Resource,
        mut object: Value,
        precondition: Precondition,
    ) -> Result<Arc<Stored>, EtcdError> {
        let metadata = &object["metadata"];
        let name = metadata["name"].as_str().unwrap_or_default().to_owned();
        if name.is_empty() {
            return Err(EtcdError::Invalid(
                "metadata.name: Required value".to_owned(),
            ));
        }
        let namespace = if resource.namespaced {
            metadata["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_owned()
        } else {
            String::new()
        };
        let sent_version = metadata["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut inner = self.write();
        let key = (namespace.clone(), name.clone());
        let existing = inner
            .objects
            .get(&resource)
            .and_then(|objects| objects.get(&key))
            .cloned();
        match (&existing, precondition) {
            (Some(_), Precondition::MustNotExist) => {
                return Err(EtcdError::AlreadyExists {
                    plural: resource.plural,
                    name,
                });
            }
            (None, Precondition::MustExist) => {
                return Err(EtcdError::NotFound {
                    plural: resource.plural,
                    name,
                });
            }
            (Some(current), Precondition::MustExist)
                if !sent_version.is_empty()
                    && sent_version != current.resource_version.to_string() =>
            {
                return Err(EtcdError::Conflict {
                    plural: resource.plural,
                    name,
                });
            }
            _ => {}
        }
        inner.resource_version += 1;
        let rv = inner.resource_version;
        let meta = &mut object["metadata"];
        meta["resourceVersion"] = Value::String(rv.to_string());
        if resource.namespaced {
            meta["namespace"] = Value::String(namespace.clone());
        }
        if let Some(current) = &existing {
            // uid and creationTimestamp are the server's, not the client's.
            let old = current.value();
            for field in ["uid", "creationTimestamp"] {
                if !old["metadata"][field].is_null() {
                    meta[field] = old["metadata"][field].clone();
                }
            }
        } else if meta["uid"].is_null() {
            meta["uid"] = Value::String(uid_for(resource, &namespace, &name, rv));
        }
        object["apiVersion"] = Value::String(resource.api_version());
        object["kind"] = Value::String(resource.kind.to_owned());
        let labels = labels_of(&object);
        let stored = Arc::new(Stored {
            resource_version: rv,
            node_name: object["spec"]["nodeName"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            phase: object["status"]["phase"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            json: object.to_string().into(),
            namespace,
            name,
            labels,
        });
        inner
            .objects
            .entry(resource)
            .or_default()
            .insert(key, stored.clone());
        let kind = if existing.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(&mut inner, resource, kind, stored.clone());
        Ok(stored)
    }

    fn record(&self, inner: &mut Inner, resource: Resource, kind: EventType, object: Arc<Stored>) {
        let event = Arc::new(Event {
            resource,
            kind,
            object,
        });
        inner.log.push_back(event.clone());
        while inner.log.len() > self.log_capacity {
            if let Some(oldest) = inner.log.pop_front() {
                inner.compacted = oldest.object.resource_version;
            }
        }
        // No receiver is fine: nobody is watching.
        let _ = self.events.send(event);
    }
}

enum Precondition {
    None,
    MustExist,
    MustNotExist,
}

/// `metadata.labels` of a JSON object (empty when absent).
pub fn labels_of(object: &Value) -> BTreeMap<String, String> {
    object["metadata"]["labels"]
        .as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// A deterministic UUID-shaped uid, so a seed reproduces the same cluster.
pub fn uid_for(resource: Resource, namespace: &str, name: &str, salt: u64) -> String {
    use std::hash::{Hash, Hasher};
    let mut halves = [0_u64; 2];
    for (i, half) in halves.iter_mut().enumerate() {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (resource.plural, namespace, name, salt, i).hash(&mut hasher);
        *half = hasher.finish();
    }
    let hex = format!("{:016x}{:016x}", halves[0], halves[1]);
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::resources::{LEASES, PODS};
    use serde_json::json;

    fn pod(ns: &str, name: &str, node: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": ns, "labels": {"app": name}}, "spec": {"nodeName": node}, "status": {"phase": "Running"}})
    }

    #[test]
    fn lists_page_in_key_order_with_remaining_counts() -> Result<(), EtcdError> {
        let store = Etcd::new(100);
        for i in 0..5 {
            store.put(PODS, pod("a", &format!("p{i}"), "n1"))?;
        }
        store.put(PODS, pod("b", "q", "n2"))?;
        let all = (LabelSelector::default(), FieldSelector::default());
        let first = store.list(PODS, None, &all.0, &all.1, Some(4), None);
        assert_eq!(first.items.len(), 4);
        assert_eq!(first.remaining, Some(2));
        let second = store.list(PODS, None, &all.0, &all.1, Some(4), first.next.as_ref());
        let names: Vec<_> = second.items.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["p4", "q"]);
        assert_eq!(second.next, None);
        let only_b = store.list(PODS, Some("b"), &all.0, &all.1, None, None);
        assert_eq!(only_b.items.len(), 1);
        Ok(())
    }

    #[test]
    fn updates_check_the_resource_version_and_watches_expire_after_compaction()
    -> Result<(), EtcdError> {
        let store = Etcd::new(100);
        let lease = json!({"metadata": {"name": "leader", "namespace": "kt"}, "spec": {"holderIdentity": "a"}});
        let created = store.create(LEASES, lease.clone())?;
        assert!(matches!(
            store.create(LEASES, lease.clone()),
            Err(EtcdError::AlreadyExists { .. })
        ));
        let mut stale = created.value();
        stale["spec"]["holderIdentity"] = json!("b");
        let updated = store.update(LEASES, stale.clone())?;
        assert!(updated.resource_version > created.resource_version);
        assert!(matches!(
            store.update(LEASES, stale),
            Err(EtcdError::Conflict { .. })
        ));
        let (backlog, _) = store.watch_from(LEASES, created.resource_version)?;
        assert_eq!(backlog.len(), 1);
        assert_eq!(backlog[0].kind, EventType::Modified);
        assert!(!store.is_compacted(created.resource_version));
        store.compact();
        assert!(store.is_compacted(created.resource_version));
        assert!(matches!(
            store.watch_from(LEASES, created.resource_version),
            Err(EtcdError::Expired { .. })
        ));
        store.delete(LEASES, "kt", "leader")?;
        assert!(matches!(
            store.get(LEASES, "kt", "leader"),
            Err(EtcdError::NotFound { .. })
        ));
        Ok(())
    }
}
