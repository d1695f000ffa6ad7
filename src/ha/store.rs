//! The part of etcd's API the leadership needs: leases, and transactions that compare a key's
//! `create_revision` and then put, delete or read. [`super::etcd::EtcdStore`] is etcd itself;
//! [`super::mem::MemStore`] keeps the same semantics in memory for the simulator.

use std::future::Future;

/// A comparison of a transaction: key `.0`'s `create_revision` equals `.1` (0: the key does
/// not exist).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created(pub String, pub i64);

/// An operation of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Put a value, bound to a lease (deleted when it expires) or not.
    Put {
        key: String,
        value: String,
        lease: Option<i64>,
    },
    Delete(String),
    /// Read one key.
    Get(String),
    /// Read every key under a prefix, in key order.
    GetPrefix(String),
}

/// What a transaction did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// Whether every comparison held (the `then` branch ran; else the `otherwise` one).
    pub succeeded: bool,
    /// The store's revision after it.
    pub revision: i64,
    /// The keys and values each read of the branch that ran found, one list per read, in order.
    pub read: Vec<Vec<(String, String)>>,
}

/// A store with etcd's semantics. Every call may fail (`Err`, why) or never answer: callers
/// bound each with a timeout.
pub trait LeaseStore: Send + Sync + 'static {
    /// A new lease of `ttl` seconds: its id.
    fn grant(&self, ttl: i64) -> impl Future<Output = Result<i64, String>> + Send;
    /// Renew lease `id`: the seconds it has left (0: it had expired, and is gone).
    fn keep_alive(&self, id: i64) -> impl Future<Output = Result<i64, String>> + Send;
    /// Give lease `id` back: its keys are deleted.
    fn revoke(&self, id: i64) -> impl Future<Output = Result<(), String>> + Send;
    /// `if every (when) then (then) else (otherwise)`, atomically.
    fn txn(
        &self,
        when: Vec<Created>,
        then: Vec<Op>,
        otherwise: Vec<Op>,
    ) -> impl Future<Output = Result<Reply, String>> + Send;
}
