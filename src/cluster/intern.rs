//! Shared strings for the watch cache.
//!
//! At 150,000 pods the same namespaces, node names, label keys and values,
//! owner names and container names repeat tens of thousands of times; one
//! `Arc<str>` per distinct string keeps the cache within its memory budget
//! (≤ 2 KB per pod). Whole label sets repeat too (every pod of a ReplicaSet
//! has the same labels, most pods the same node selector and no claims), so
//! they are shared the same way.

use std::collections::HashSet;
use std::sync::Arc;

/// Key-value pairs, as labels and node selectors are held.
pub type Pairs = Arc<[(Arc<str>, Arc<str>)]>;

/// A set of shared strings, label sets and name lists.
#[derive(Debug, Default)]
pub struct Interner {
    strings: HashSet<Arc<str>>,
    pairs: HashSet<Pairs>,
    names: HashSet<Arc<[Arc<str>]>>,
}

impl Interner {
    /// The shared copy of `text`.
    pub fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.strings.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        self.strings.insert(shared.clone());
        shared
    }

    /// The shared copy of a set of pairs (in the order given: callers pass
    /// them sorted, as the API's maps come).
    pub fn pairs(&mut self, pairs: Vec<(Arc<str>, Arc<str>)>) -> Pairs {
        if let Some(shared) = self.pairs.get(pairs.as_slice()) {
            return shared.clone();
        }
        let shared: Pairs = pairs.into();
        self.pairs.insert(shared.clone());
        shared
    }

    /// The shared copy of a list of names.
    pub fn names(&mut self, names: Vec<Arc<str>>) -> Arc<[Arc<str>]> {
        if let Some(shared) = self.names.get(names.as_slice()) {
            return shared.clone();
        }
        let shared: Arc<[Arc<str>]> = names.into();
        self.names.insert(shared.clone());
        shared
    }

    /// Forgets what nobody else holds any more (after many pods went away).
    pub fn sweep(&mut self) {
        self.strings.retain(|s| Arc::strong_count(s) > 1);
        self.pairs.retain(|s| Arc::strong_count(s) > 1);
        self.names.retain(|s| Arc::strong_count(s) > 1);
    }

    pub fn len(&self) -> usize {
        self.strings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_equal_strings_and_sweeps_unused_ones() {
        let mut interner = Interner::default();
        let a = interner.get("kube-system");
        let b = interner.get("kube-system");
        assert!(Arc::ptr_eq(&a, &b));
        drop(interner.get("gone"));
        interner.sweep();
        assert_eq!(interner.len(), 1);
    }

    #[test]
    fn shares_equal_label_sets_and_name_lists() {
        let mut interner = Interner::default();
        let pair = |i: &mut Interner, v: &str| (i.get("app"), i.get(v));
        let first = vec![pair(&mut interner, "api")];
        let a = interner.pairs(first);
        let second = vec![pair(&mut interner, "api")];
        let b = interner.pairs(second);
        let other = vec![pair(&mut interner, "web")];
        let c = interner.pairs(other);
        assert!(Arc::ptr_eq(&a, &b) && !Arc::ptr_eq(&a, &c));
        let none = interner.names(Vec::new());
        assert!(Arc::ptr_eq(&none, &interner.names(Vec::new())));
        drop((a, b, c, none));
        interner.sweep();
        assert_eq!((interner.pairs.len(), interner.names.len()), (0, 0));
    }
}
