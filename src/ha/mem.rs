//! A lease store with etcd's semantics, in memory, on tokio's clock: the simulator's etcd, and
//! the leadership's own tests' (deterministic under paused time).
//!
//! Kept as etcd keeps them: one revision counter bumped by every write; each key's
//! `create_revision`; leases that expire `ttl` after their last renewal *received*, deleting
//! their keys. A request reaches the store half a round trip after it is sent and is answered
//! half a round trip later. Faults: a client cut from the store, or the store without quorum,
//! gets no answer at all (its caller's timeout says so), as a member cut from etcd's quorum
//! answers nothing to a request that requires a leader. Without quorum no lease expires (etcd's
//! lessor runs on its raft leader only), and regaining it gives every lease its whole TTL again,
//! as etcd's new raft leader does (`Lessor::Promote`): a short election costs no lease.

use super::store::{Created, LeaseStore, Op, Reply};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

struct Entry {
    value: String,
    create_revision: i64,
    lease: Option<i64>,
}

#[derive(Default)]
struct Inner {
    revision: i64,
    keys: BTreeMap<String, Entry>,
    /// Lease id -> (TTL, when it expires).
    leases: BTreeMap<i64, (Duration, Instant)>,
    next_lease: i64,
    /// Clients that reach the store no more.
    cut: BTreeSet<String>,
    /// The store has lost its quorum: it answers nobody.
    down: bool,
    /// Every change of a key under this prefix, kept (`MemStore::keep_history`).
    history_prefix: Option<String>,
    history: Vec<(Instant, String, Option<String>)>,
}

impl Inner {
    /// Expire the leases past their time, as etcd's lessor does, deleting their keys.
    fn expire(&mut self, now: Instant) {
        if self.down {
            return;
        }
        let mut gone: Vec<(Instant, i64)> =
            self.leases.iter().filter(|(_, (_, at))| *at <= now).map(|(id, (_, at))| (*at, *id)).collect();
        gone.sort();
        // Each at the instant it expired (the history says when the keys went).
        for (at, id) in gone {
            self.drop_lease(id, at);
        }
    }

    fn drop_lease(&mut self, id: i64, now: Instant) {
        if self.leases.remove(&id).is_none() {
            return;
        }
        let gone: Vec<String> = self.keys.iter().filter(|(_, e)| e.lease == Some(id)).map(|(k, _)| k.clone()).collect();
        if !gone.is_empty() {
            self.revision += 1;
        }
        for k in gone {
            self.keys.remove(&k);
            self.changed(now, &k, None);
        }
    }

    fn changed(&mut self, now: Instant, key: &str, value: Option<&str>) {
        if self.history_prefix.as_deref().is_some_and(|p| key.starts_with(p)) {
            self.history.push((now, key.to_string(), value.map(str::to_string)));
        }
    }

    /// One operation of a transaction whose writes take revision `rev` (etcd gives every
    /// write of a transaction the same revision); whether it wrote.
    fn apply(&mut self, op: Op, rev: i64, now: Instant, read: &mut Vec<Vec<(String, String)>>) -> bool {
        match op {
            Op::Put { key, value, lease } => {
                let create_revision = self.keys.get(&key).map_or(rev, |e| e.create_revision);
                self.changed(now, &key, Some(&value));
                self.keys.insert(key, Entry { value, create_revision, lease });
                true
            }
            Op::Delete(key) => {
                let gone = self.keys.remove(&key).is_some();
                if gone {
                    self.changed(now, &key, None);
                }
                gone
            }
            Op::Get(key) => {
                read.push(self.keys.get(&key).map(|e| (key, e.value.clone())).into_iter().collect());
                false
            }
            Op::GetPrefix(p) => {
                let found = self.keys.range(p.clone()..).take_while(|(k, _)| k.starts_with(&p));
                read.push(found.map(|(k, e)| (k.clone(), e.value.clone())).collect());
                false
            }
        }
    }
}

/// One client's handle on a shared in-memory store.
#[derive(Clone)]
pub struct MemStore {
    inner: Arc<Mutex<Inner>>,
    client: String,
    /// Half a round trip.
    half_trip: Duration,
}

impl MemStore {
    /// A new, empty store; `client` names this handle (for faults), `round_trip` is each
    /// request's round trip.
    pub fn new(client: &str, round_trip: Duration) -> MemStore {
        let inner = Inner { revision: 1, next_lease: 1, ..Default::default() };
        MemStore { inner: Arc::new(Mutex::new(inner)), client: client.into(), half_trip: round_trip / 2 }
    }

    /// Another client of the same store.
    pub fn client(&self, name: &str) -> MemStore {
        MemStore { inner: self.inner.clone(), client: name.into(), half_trip: self.half_trip }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Cut client `name` from the store (`true`) or reconnect it.
    pub fn cut(&self, name: &str, cut: bool) {
        let mut s = self.lock();
        if cut {
            s.cut.insert(name.to_string());
        } else {
            s.cut.remove(name);
        }
    }

    /// The store loses its quorum (`true`: it answers nobody) or regains it.
    pub fn set_down(&self, down: bool) {
        let mut s = self.lock();
        if s.down && !down {
            let now = Instant::now();
            for (ttl, at) in s.leases.values_mut() {
                *at = now + *ttl;
            }
        }
        s.down = down;
    }

    /// Keep every change of a key under `prefix` from now on (the simulator's record of who
    /// held the leader key and whose views were there, when).
    pub fn keep_history(&self, prefix: &str) {
        self.lock().history_prefix = Some(prefix.to_string());
    }

    /// The changes kept, expiring leases up to now first: (when, key, value or `None` when
    /// deleted), in order.
    pub fn history(&self) -> Vec<(Instant, String, Option<String>)> {
        let mut s = self.lock();
        s.expire(Instant::now());
        s.history.clone()
    }

    /// The value of `key` now, read by the test or the simulator (no fault applies).
    pub fn peek(&self, key: &str) -> Option<String> {
        let mut s = self.lock();
        s.expire(Instant::now());
        s.keys.get(key).map(|e| e.value.clone())
    }

    /// One request: it reaches the store half a round trip after it is sent, its answer comes
    /// half a round trip after that; a cut client or a store without quorum never answers.
    async fn request<T>(&self, f: impl FnOnce(&mut Inner, Instant) -> T) -> T {
        tokio::time::sleep(self.half_trip).await;
        let answer = {
            let mut s = self.lock();
            if s.down || s.cut.contains(&self.client) {
                None
            } else {
                let now = Instant::now();
                s.expire(now);
                Some(f(&mut s, now))
            }
        };
        match answer {
            Some(a) => {
                tokio::time::sleep(self.half_trip).await;
                a
            }
            None => std::future::pending().await,
        }
    }
}

impl LeaseStore for MemStore {
    async fn grant(&self, ttl: i64) -> Result<i64, String> {
        let ttl = Duration::from_secs(ttl.max(1) as u64);
        Ok(self
            .request(|s, now| {
                let id = s.next_lease;
                s.next_lease += 1;
                s.leases.insert(id, (ttl, now + ttl));
                id
            })
            .await)
    }

    async fn keep_alive(&self, id: i64) -> Result<i64, String> {
        Ok(self
            .request(|s, now| match s.leases.get_mut(&id) {
                Some((ttl, at)) => {
                    *at = now + *ttl;
                    ttl.as_secs() as i64
                }
                None => 0,
            })
            .await)
    }

    async fn revoke(&self, id: i64) -> Result<(), String> {
        self.request(|s, now| s.drop_lease(id, now)).await;
        Ok(())
    }

    async fn txn(&self, when: Vec<Created>, then: Vec<Op>, otherwise: Vec<Op>) -> Result<Reply, String> {
        self.request(|s, now| {
            let succeeded = when.iter().all(|Created(k, rev)| s.keys.get(k).map_or(0, |e| e.create_revision) == *rev);
            let ops = if succeeded { then } else { otherwise };
            // As etcd: a put bound to a lease that does not exist fails the whole transaction.
            if let Some(id) = ops.iter().find_map(|o| match o {
                Op::Put { lease: Some(id), .. } if !s.leases.contains_key(id) => Some(*id),
                _ => None,
            }) {
                return Err(format!("etcd: requested lease not found ({id})"));
            }
            let (mut read, rev) = (Vec::new(), s.revision + 1);
            let mut wrote = false;
            for op in ops {
                wrote |= s.apply(op, rev, now, &mut read);
            }
            if wrote {
                s.revision = rev;
            }
            Ok(Reply { succeeded, revision: s.revision, read })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &str, lease: Option<i64>) -> Op {
        Op::Put { key: k.into(), value: "v".into(), lease }
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_bound_to_a_lease_goes_ttl_after_its_last_renewal() {
        let s = MemStore::new("a", Duration::from_millis(10));
        let id = s.grant(2).await.unwrap();
        s.txn(vec![], vec![put("/k", Some(id))], vec![]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(s.keep_alive(id).await.unwrap(), 2);
        tokio::time::sleep(Duration::from_millis(1900)).await;
        assert!(s.peek("/k").is_some(), "renewed 1.9 s ago");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(s.peek("/k"), None);
        assert_eq!(s.keep_alive(id).await.unwrap(), 0, "an expired lease renews no more");
    }

    #[tokio::test(start_paused = true)]
    async fn create_revision_compares_as_etcd_does() {
        let s = MemStore::new("a", Duration::ZERO);
        let r = s.txn(vec![Created("/k".into(), 0)], vec![put("/k", None)], vec![Op::Get("/k".into())]).await.unwrap();
        assert!(r.succeeded);
        let made = r.revision;
        // Rewriting keeps the create_revision; a second create fails and reads it.
        s.txn(vec![], vec![put("/k", None)], vec![]).await.unwrap();
        let again = s.txn(vec![Created("/k".into(), 0)], vec![put("/k", None)], vec![Op::Get("/k".into())]).await;
        let again = again.unwrap();
        assert!(!again.succeeded);
        assert_eq!(again.read, vec![vec![("/k".to_string(), "v".to_string())]]);
        assert!(s.txn(vec![Created("/k".into(), made)], vec![], vec![]).await.unwrap().succeeded);
        let bad = s.txn(vec![], vec![put("/x", Some(99))], vec![]).await;
        assert!(bad.unwrap_err().contains("lease not found"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cut_client_gets_no_answer_and_the_others_do() {
        let s = MemStore::new("a", Duration::from_millis(10));
        let b = s.client("b");
        s.cut("a", true);
        let cut = tokio::time::timeout(Duration::from_secs(1), s.grant(2)).await;
        assert!(cut.is_err(), "no answer");
        assert!(b.grant(2).await.is_ok());
        s.set_down(true);
        assert!(tokio::time::timeout(Duration::from_secs(1), b.grant(2)).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn without_quorum_no_lease_expires_and_regaining_it_renews_them_all() {
        let s = MemStore::new("a", Duration::from_millis(10));
        let id = s.grant(2).await.unwrap();
        s.txn(vec![], vec![Op::Put { key: "/k".into(), value: "v".into(), lease: Some(id) }], vec![]).await.unwrap();
        s.set_down(true);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(s.peek("/k").as_deref(), Some("v"), "no lease expires without a raft leader");
        s.set_down(false);
        tokio::time::sleep(Duration::from_millis(1900)).await;
        assert_eq!(s.peek("/k").as_deref(), Some("v"), "its whole TTL again");
        assert!(s.keep_alive(id).await.unwrap() > 0);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(s.peek("/k"), None, "and it expires when nobody renews it");
    }
}
