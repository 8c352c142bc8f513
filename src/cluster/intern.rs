//! Shared strings for the watch cache.
//!
//! At 150,000 pods the same namespaces, node names, label keys and values,
//! owner names and container names repeat tens of thousands of times; one
//! `Arc<str>` per distinct string keeps the cache within its memory budget
//! (≤ 2 KB per pod).

use std::collections::HashSet;
use std::sync::Arc;

/// A set of shared strings.
#[derive(Debug, Default)]
pub struct Interner {
    strings: HashSet<Arc<str>>,
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

    /// Forgets strings nobody else holds any more (after many pods went away).
    pub fn sweep(&mut self) {
        self.strings.retain(|s| Arc::strong_count(s) > 1);
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
}
