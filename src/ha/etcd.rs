//! [`LeaseStore`] on etcd (the `etcd-client` crate). Requests require an etcd leader, so a
//! member cut from etcd's quorum answers nothing.
//!
//! **One member at a time**, as etcd's own Go client pins one: every request goes to the
//! current member, and a request that fails — or is given up by its caller, as the campaign
//! gives up one that takes longer than its bound — moves the current member on to the next one
//! for the requests after it (never a resend: a request that timed out may have been carried
//! out).
//! A member that is down, cut off or without quorum so costs one failed request, not one in
//! every N: with the crate's balanced channel over all the endpoints, the requests sent to a
//! member cut off failed each time their turn came, and a leader whose machine was fine lost
//! its lease to one standby's machine being isolated (found on the lab, `tests/lab_ha.rs`).

use super::store::{Created, LeaseStore, Op, Reply};
use crate::config::HaConfig;
use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, PutOptions, Txn, TxnOp, TxnOpResponse};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct EtcdStore {
    /// Each member's URL and a client of it alone (it connects when first used).
    members: Vec<(String, Client)>,
    /// The member requests go to now.
    current: AtomicUsize,
    /// The keep-alive stream of the lease being renewed: (member, lease, its keeper, its stream).
    keeper: tokio::sync::Mutex<Option<Keeper>>,
}

type Keeper = (usize, i64, etcd_client::LeaseKeeper, etcd_client::LeaseKeepAliveStream);

impl EtcdStore {
    /// Clients of `cfg`'s endpoints; every request gives up after a quarter of the TTL.
    pub async fn connect(cfg: &HaConfig) -> anyhow::Result<EtcdStore> {
        let round = cfg.ttl / 4;
        let options = ConnectOptions::new()
            .with_connect_timeout(round)
            .with_timeout(round)
            .with_keep_alive(round, round)
            .with_require_leader(true);
        let mut members = Vec::new();
        for url in &cfg.endpoints {
            let client = Client::connect([url], Some(options.clone()))
                .await
                .map_err(|e| anyhow::anyhow!("[ha] etcd at {url}: {e}"))?;
            members.push((url.clone(), client));
        }
        Ok(EtcdStore { members, current: AtomicUsize::new(0), keeper: Default::default() })
    }

    /// A request to the current member: a client of it, and the attempt to close.
    fn attempt(&self) -> (Client, Attempt<'_>) {
        let member = self.current.load(Ordering::Relaxed) % self.members.len();
        (self.members[member].1.clone(), Attempt { store: self, member, done: false })
    }
}

/// A request under way to one member: unless it is marked done, it failed — by an error, or
/// by being dropped unanswered — and the next requests go to the next member (unless another
/// failure moved them on already).
struct Attempt<'a> {
    store: &'a EtcdStore,
    member: usize,
    done: bool,
}

impl Attempt<'_> {
    fn done(mut self) {
        self.done = true;
    }

    /// The error, naming the member.
    fn failed(self, what: &str, e: impl std::fmt::Display) -> String {
        format!("{what}: etcd at {}: {e}", self.store.members[self.member].0)
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.done {
            let next = (self.member + 1) % self.store.members.len();
            let _ = self.store.current.compare_exchange(self.member, next, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
}

fn op(op: Op) -> TxnOp {
    match op {
        Op::Put { key, value, lease } => TxnOp::put(key, value, lease.map(|id| PutOptions::new().with_lease(id))),
        Op::Delete(key) => TxnOp::delete(key, None),
        Op::Get(key) => TxnOp::get(key, None),
        Op::GetPrefix(prefix) => TxnOp::get(prefix, Some(GetOptions::new().with_prefix())),
    }
}

impl LeaseStore for EtcdStore {
    async fn grant(&self, ttl: i64) -> Result<i64, String> {
        let (mut client, attempt) = self.attempt();
        match client.lease_grant(ttl, None).await {
            Ok(g) => {
                attempt.done();
                Ok(g.id())
            }
            Err(e) => Err(attempt.failed("granting a lease", e)),
        }
    }

    async fn keep_alive(&self, id: i64) -> Result<i64, String> {
        let mut slot = self.keeper.lock().await;
        let (mut client, attempt) = self.attempt();
        // Out of its slot while in use: a renewal given up halfway leaves no stream behind
        // whose late answer the next renewal would take for its own.
        let mut keeper = match slot.take() {
            Some(k) if k.0 == attempt.member && k.1 == id => k,
            _ => match client.lease_keep_alive(id).await {
                Ok((k, s)) => (attempt.member, id, k, s),
                Err(e) => return Err(attempt.failed("keeping the lease", e)),
            },
        };
        let answer = async {
            keeper.2.keep_alive().await?;
            keeper.3.message().await
        }
        .await;
        match answer {
            Ok(Some(a)) => {
                *slot = Some(keeper);
                attempt.done();
                Ok(a.ttl())
            }
            Ok(None) => Err(attempt.failed("renewing the lease", "the stream ended")),
            Err(e) => Err(attempt.failed("renewing the lease", e)),
        }
    }

    async fn revoke(&self, id: i64) -> Result<(), String> {
        let (mut client, attempt) = self.attempt();
        match client.lease_revoke(id).await {
            Ok(_) => {
                attempt.done();
                Ok(())
            }
            Err(e) => Err(attempt.failed("giving the lease back", e)),
        }
    }

    async fn txn(&self, when: Vec<Created>, then: Vec<Op>, otherwise: Vec<Op>) -> Result<Reply, String> {
        let (mut client, attempt) = self.attempt();
        let compares: Vec<Compare> =
            when.into_iter().map(|Created(k, rev)| Compare::create_revision(k, CompareOp::Equal, rev)).collect();
        let txn = Txn::new()
            .when(compares)
            .and_then(then.into_iter().map(op).collect::<Vec<_>>())
            .or_else(otherwise.into_iter().map(op).collect::<Vec<_>>());
        let r = match client.txn(txn).await {
            Ok(r) => {
                attempt.done();
                r
            }
            Err(e) => return Err(attempt.failed("a transaction", e)),
        };
        let read = r
            .op_responses()
            .into_iter()
            .filter_map(|o| match o {
                TxnOpResponse::Get(g) => Some(
                    g.kvs()
                        .iter()
                        .filter_map(|kv| Some((kv.key_str().ok()?.to_string(), kv.value_str().ok()?.to_string())))
                        .collect(),
                ),
                _ => None,
            })
            .collect();
        Ok(Reply { succeeded: r.succeeded(), revision: r.header().map(|h| h.revision()).unwrap_or(0), read })
    }
}
