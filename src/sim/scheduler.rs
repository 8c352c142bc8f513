//! Places pods on nodes by their requests, as kube-scheduler's resource fit
//! does, so no node is allocated beyond its allocatable and a cost report's
//! idle is never negative because the simulator overcommitted.

use std::collections::HashMap;

use super::objects::Placement;

#[derive(Debug)]
struct Slot {
    name: String,
    preemptible: bool,
    cpu_allocatable: f64,
    memory_allocatable: f64,
    cpu_free: f64,
    memory_free: f64,
}

/// A node's allocatable and what its pods leave free of it, as the
/// kubelet weighs a resize.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Room {
    pub cpu_allocatable: f64,
    pub memory_allocatable: f64,
    pub cpu_free: f64,
    pub memory_free: f64,
}

/// Free allocatable per node, with a rotating cursor that spreads pods.
#[derive(Debug, Default)]
pub struct Scheduler {
    slots: Vec<Slot>,
    index: HashMap<String, usize>,
    cursor: usize,
    has_preemptible: bool,
}

impl Scheduler {
    pub fn add_node(&mut self, name: &str, preemptible: bool, cpu: f64, memory: f64) {
        self.index.insert(name.to_owned(), self.slots.len());
        self.has_preemptible |= preemptible;
        self.slots.push(Slot {
            name: name.to_owned(),
            preemptible,
            cpu_allocatable: cpu,
            memory_allocatable: memory,
            cpu_free: cpu,
            memory_free: memory,
        });
    }

    /// `node`'s allocatable and free room, if it is a node of the cluster.
    pub fn room(&self, node: &str) -> Option<Room> {
        let slot = &self.slots[*self.index.get(node)?];
        Some(Room {
            cpu_allocatable: slot.cpu_allocatable,
            memory_allocatable: slot.memory_allocatable,
            cpu_free: slot.cpu_free,
            memory_free: slot.memory_free,
        })
    }

    /// Allocatable CPU cores and memory bytes still free where `placement` may run.
    pub fn free_for(&self, placement: Placement) -> (f64, f64) {
        self.slots
            .iter()
            .filter(|s| self.allows(placement, s))
            .fold((0.0, 0.0), |sum, s| {
                (sum.0 + s.cpu_free.max(0.0), sum.1 + s.memory_free.max(0.0))
            })
    }

    /// Batch pods pinned to the preemptible pool run anywhere in a cluster
    /// without one, as they would after the user dropped the selector.
    fn allows(&self, placement: Placement, slot: &Slot) -> bool {
        match placement {
            Placement::Anywhere => !slot.preemptible || !self.has_preemptible,
            Placement::Preemptible => slot.preemptible || !self.has_preemptible,
        }
    }

    /// Reserves room on a node that fits, or `None` when no node does.
    pub fn place(&mut self, cpu: f64, memory: f64, placement: Placement) -> Option<String> {
        let count = self.slots.len();
        for step in 0..count {
            let at = (self.cursor + step) % count;
            if !self.allows(placement, &self.slots[at]) {
                continue;
            }
            let slot = &mut self.slots[at];
            if slot.cpu_free >= cpu && slot.memory_free >= memory {
                slot.cpu_free -= cpu;
                slot.memory_free -= memory;
                self.cursor = at + 1;
                return Some(slot.name.clone());
            }
        }
        None
    }

    /// Reserves room on a given node (DaemonSet pods), even beyond its free room.
    pub fn reserve(&mut self, node: &str, cpu: f64, memory: f64) {
        if let Some(&at) = self.index.get(node) {
            self.slots[at].cpu_free -= cpu;
            self.slots[at].memory_free -= memory;
        }
    }

    /// Nodes whose pods request more than they can allocate (none, unless
    /// DaemonSets alone overfill a node).
    pub fn overcommitted(&self) -> Vec<&str> {
        self.slots
            .iter()
            .filter(|s| s.cpu_free < -1e-9 || s.memory_free < -1e-3)
            .map(|s| s.name.as_str())
            .collect()
    }

    /// Gives back what a pod that ended had reserved.
    pub fn release(&mut self, node: &str, cpu: f64, memory: f64) {
        self.reserve(node, -cpu, -memory);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_overcommits_and_honours_the_preemptible_pool() {
        let mut scheduler = Scheduler::default();
        scheduler.add_node("a", false, 2.0, 4e9);
        scheduler.add_node("b", true, 2.0, 4e9);
        assert_eq!(
            scheduler.place(1.5, 1e9, Placement::Anywhere).as_deref(),
            Some("a")
        );
        assert_eq!(scheduler.place(1.0, 1e9, Placement::Anywhere), None);
        assert_eq!(
            scheduler.place(1.0, 1e9, Placement::Preemptible).as_deref(),
            Some("b")
        );
        scheduler.release("a", 1.5, 1e9);
        assert_eq!(
            scheduler.place(1.0, 1e9, Placement::Anywhere).as_deref(),
            Some("a")
        );
    }
}
