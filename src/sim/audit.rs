//! What clients asked of the simulated API server, as the real server's
//! audit log would show it: the verb, the resource and where. Tests read it
//! to prove that the collector's RBAC rules cover every call it makes, and
//! nothing more (deploy/).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// One kind of request, as RBAC sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApiCall {
    /// A request on a resource: `verb` is RBAC's (get, list, watch, create,
    /// update, patch, delete).
    Resource {
        verb: &'static str,
        group: String,
        resource: String,
        namespace: Option<String>,
        name: Option<String>,
    },
    /// A request on a non-resource URL (`/version`, discovery, `/openapi`).
    NonResource { path: String },
}

/// The distinct calls served, with how many times each was made.
#[derive(Debug, Default)]
pub struct Audit {
    calls: Mutex<BTreeMap<ApiCall, u64>>,
}

impl Audit {
    pub fn record(&self, call: ApiCall) {
        let mut calls = match self.calls.lock() {
            Ok(calls) => calls,
            Err(poisoned) => poisoned.into_inner(),
        };
        *calls.entry(call).or_default() += 1;
    }

    /// Every distinct call so far and its count.
    pub fn calls(&self) -> BTreeMap<ApiCall, u64> {
        match self.calls.lock() {
            Ok(calls) => calls.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}
