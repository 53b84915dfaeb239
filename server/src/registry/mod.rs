//! Which resources a logical cluster serves, and the generic store that
//! serves them.

pub mod admission;
mod convert;
pub mod filter;
pub mod hooked;
pub mod object_limit;
mod quota;
pub mod resource;
pub mod store;
pub mod strategy;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use admission::{Admission, AdmitCtx};
pub use resource::{BoundFrom, Conversion, Converter, RemoteConverter, ResourceDef};
pub use strategy::{Decoded, NameRule, Strategy};

/// The resources served in one logical cluster, indexed for routing and
/// discovery.
#[derive(Default, Clone)]
pub struct Registry {
    /// (group, version, plural) → definition.
    by_gvr: BTreeMap<(String, String, String), Arc<ResourceDef>>,
    /// Group → versions in preference order (first is preferred).
    versions: BTreeMap<String, Vec<String>>,
    /// Groups in the order discovery lists them.
    group_order: Vec<String>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("resources", &self.by_gvr.len())
            .finish()
    }
}

impl Registry {
    pub fn add(&mut self, def: ResourceDef) {
        let def = Arc::new(def);
        if !self.versions.contains_key(&def.group) {
            self.group_order.push(def.group.clone());
        }
        let versions = self.versions.entry(def.group.clone()).or_default();
        if !versions.contains(&def.version) {
            versions.push(def.version.clone());
        }
        self.by_gvr.insert(
            (def.group.clone(), def.version.clone(), def.resource.clone()),
            def,
        );
    }

    /// The first definition `pred` accepts, preferring one that reads and
    /// writes the storage version without a conversion webhook: what the
    /// server's own controllers use to address a keyspace, so a tenant's
    /// slow or broken webhook cannot hold them.
    pub fn for_storage(&self, pred: impl Fn(&ResourceDef) -> bool) -> Option<&Arc<ResourceDef>> {
        let mut fallback = None;
        for d in self.all().filter(|d| pred(d)) {
            if !d.converts_remotely() {
                return Some(d);
            }
            fallback.get_or_insert(d);
        }
        fallback
    }

    pub fn get(&self, group: &str, version: &str, resource: &str) -> Option<&Arc<ResourceDef>> {
        self.by_gvr
            .get(&(group.to_string(), version.to_string(), resource.to_string()))
    }

    /// Groups (including the core group `""`) with their served versions,
    /// preferred first.
    pub fn groups(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.group_order
            .iter()
            .map(|g| (g.as_str(), self.versions[g].as_slice()))
    }

    pub fn versions_of(&self, group: &str) -> Option<&[String]> {
        self.versions.get(group).map(Vec::as_slice)
    }

    /// Resources of one group/version, in name order.
    pub fn resources(&self, group: &str, version: &str) -> impl Iterator<Item = &Arc<ResourceDef>> {
        self.by_gvr
            .iter()
            .filter(move |((g, v, _), _)| g == group && v == version)
            .map(|(_, d)| d)
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceDef>> {
        self.by_gvr.values()
    }
}
