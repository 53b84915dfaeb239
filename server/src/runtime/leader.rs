//! The leader-election hook: a controller only runs while its replica
//! leads.
//!
//! The runtime asks the elector for a [`Lease`] before it starts watching
//! and reconciling, and stops (draining what runs) as soon as the lease's
//! `lost` future completes, then asks again. A single binary is always the
//! leader ([`AlwaysLeader`]); a replicated deployment plugs in an
//! implementation backed by a shared lease (an etcd lease, issue 23)
//! without touching any controller.

use std::future::Future;
use std::pin::Pin;

/// Held while this replica leads.
pub struct Lease {
    /// Completes when leadership is lost (the lease expired or was taken).
    pub lost: Pin<Box<dyn Future<Output = ()> + Send>>,
}

#[async_trait::async_trait]
pub trait LeaderElector: Send + Sync + 'static {
    /// Waits until this replica leads for controller `name`.
    async fn acquire(&self, name: &str) -> Lease;
}

/// The single-binary elector: leads at once and never loses.
pub struct AlwaysLeader;

#[async_trait::async_trait]
impl LeaderElector for AlwaysLeader {
    async fn acquire(&self, _name: &str) -> Lease {
        Lease {
            lost: Box::pin(std::future::pending()),
        }
    }
}
