//! Several supervisors of one cluster, one leading, on etcd (`[ha]`), after Patroni's model:
//! a leader key bound to a lease with a TTL that the leader renews; the instance that cannot
//! renew stops leading at once; the others take the key when the lease has expired.
//!
//! Each instance holds a lease (`ttl`, renewed every quarter of it) and campaigns for the key
//! `PREFIX/leader` with a transaction: put it, bound to its lease, if it does not exist
//! (`create_revision == 0`). The instance whose put succeeded leads; it checks every round that
//! the key is still the one it made (`create_revision` unchanged). In the same transaction each
//! instance writes its view of the hosts (`core::vantage`) to `PREFIX/views/NAME`, bound to its
//! lease, and reads the others': the views the store holds are those of the live instances. An
//! instance told it is not fit to lead ([`Leadership::stand`]: it is the one cut off) stops
//! leading at once, deletes the key if it holds it, and does not campaign until it is fit.
//!
//! **Never two leaders acting.** etcd deletes the key only when the lease expires, and expires
//! it no sooner than TTL after the last renewal it received. The leader counts its lease good
//! until `sent + TTL - margin`, where `sent` is when it *sent* the last renewal that was
//! answered (so before etcd received it) and the margin (a tenth of the TTL, at least 200 ms)
//! covers the two clocks' rates. Past that instant it stops deciding and acting, even if etcd
//! is out of reach; another instance can hold the key only after etcd expired the lease, which
//! is later. On top of that, every action asks etcd, just before it runs, that this instance
//! still holds the key ([`Leadership::confirm`]). Requests require an etcd leader, so a member
//! cut from etcd's quorum answers nothing and the lease cannot be renewed through it: when etcd
//! itself loses its quorum the leader stops acting within its TTL, and the VMs run on.
//!
//! **Back after a silence.** The instance that stopped so keeps its lease and its key. etcd
//! expires no lease while it has no raft leader, and a new raft leader gives every lease its
//! whole TTL again: after a raft election (1-2 s without answers) the next round renews the
//! lease, finds the key with the `create_revision` it made (nobody else can have held it), and
//! it leads again at once. After a silence over three TTLs it waits one TTL more, until the
//! views of instances that died meanwhile (renewed with every lease) have expired.
//!
//! The campaign is written once over [`store::LeaseStore`]: etcd in production
//! ([`etcd::EtcdStore`]), [`mem::MemStore`] (etcd's semantics in memory) in the simulator.

pub mod etcd;
pub mod mem;
pub mod store;
#[cfg(test)]
mod tests;

use crate::config::HaConfig;
use crate::hv::{Leadership, StoreFuture};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{Created, LeaseStore, Op, Reply};
use tokio::time::Instant;
use tracing::{info, warn};

/// What this instance knows of the leadership.
struct State {
    /// Until when it leads, by its own clock (`None`: it does not).
    leads_until: Option<Instant>,
    /// Who leads, as last read.
    leader: Option<String>,
    /// The leader key's `create_revision` while this instance holds it.
    held: Option<i64>,
    /// The lease this instance holds now, and when it asked for it.
    lease: Option<i64>,
    granted: Option<Instant>,
    /// The shared entries read when this instance took the lead, until the supervisor takes
    /// them (`Some(None)`: the store held none yet).
    shared: Option<Option<Vec<(String, String)>>>,
    /// Whether they were read in this tenure.
    shared_read: bool,
    /// This instance's view, to publish, and the one last written (with the lease it is bound
    /// to).
    view: Option<String>,
    written: Option<(i64, String)>,
    /// The other live instances' views, as last read.
    peers: Vec<String>,
    /// Since when etcd has not answered (a round failed), and until when, after it answered
    /// again, this instance waits before it leads on the key it kept (see `round`).
    silent_since: Option<Instant>,
    resettle_until: Option<Instant>,
    /// Whether it is fit to lead (see `Leadership::stand`).
    standing: bool,
    /// Requests forwarded to this leader, taken out of the store, until the supervisor takes
    /// them.
    requests: Vec<(String, String)>,
    /// Numbers this instance's forwarded requests.
    forwarded: u64,
}

impl State {
    /// It leads no more (the supervisor sees it at its next look).
    fn stop_leading(&mut self) {
        self.leads_until = None;
        self.shared_read = false;
        self.shared = None;
        // Taken but not handed to the supervisor: never carried out (their senders hear
        // nothing, and say that they may or may not have been).
        self.requests.clear();
    }
}

/// Leadership kept in a lease store: [`EtcdLeadership`] in production.
pub struct Elector<S: LeaseStore> {
    name: String,
    key: String,
    /// The cluster's keys' prefix.
    prefix: String,
    store: Arc<S>,
    state: Arc<Mutex<State>>,
    ttl: Duration,
    /// Each request's bound: a quarter of the TTL.
    timeout: Duration,
    /// The campaign's task.
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// The campaign's task, as [`Elector::spawn_wrapped`] hands it over.
pub type Campaign = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

/// Leadership kept in etcd.
pub type EtcdLeadership = Elector<etcd::EtcdStore>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Elector<etcd::EtcdStore> {
    /// Connect to etcd and start campaigning (a task of its own, for the life of the process).
    pub async fn start(cfg: &HaConfig) -> anyhow::Result<Arc<EtcdLeadership>> {
        let store = etcd::EtcdStore::connect(cfg).await?;
        info!(target: "3rc::ha", "{} campaigns for {}/leader on etcd at {} (lease TTL {})", cfg.name, cfg.prefix, cfg.endpoints.join(", "), crate::core::time::human(cfg.ttl));
        Ok(Elector::spawn(&cfg.name, &cfg.prefix, cfg.ttl, store))
    }
}

impl<S: LeaseStore> Elector<S> {
    /// Campaign as `name` for `PREFIX/leader` in `store`, with leases of `ttl`.
    pub fn spawn(name: &str, prefix: &str, ttl: Duration, store: S) -> Arc<Elector<S>> {
        Self::spawn_wrapped(name, prefix, ttl, store, |f| f)
    }

    /// The same, the campaign's task wrapped by `wrap` (the simulator pauses it with its
    /// supervisor, as a stopped process).
    pub fn spawn_wrapped(
        name: &str,
        prefix: &str,
        ttl: Duration,
        store: S,
        wrap: impl FnOnce(Campaign) -> Campaign,
    ) -> Arc<Elector<S>> {
        let me = Arc::new(Elector {
            name: name.to_string(),
            key: format!("{prefix}/leader"),
            prefix: prefix.to_string(),
            store: Arc::new(store),
            state: Arc::new(Mutex::new(State {
                leads_until: None,
                leader: None,
                held: None,
                lease: None,
                granted: None,
                shared: None,
                shared_read: false,
                view: None,
                written: None,
                peers: Vec::new(),
                standing: true,
                silent_since: None,
                resettle_until: None,
                requests: Vec::new(),
                forwarded: 0,
            })),
            ttl,
            timeout: ttl / 4,
            task: Default::default(),
        });
        *lock(&me.task) = Some(tokio::spawn(wrap(Box::pin(campaign(me.clone())))));
        me
    }

    /// Step down for a clean stop: stop campaigning and give the lease back, so that a standby
    /// leads at once instead of after the TTL. Called once the supervisor has stopped acting.
    pub async fn resign(&self) {
        let led = self.leads();
        self.abandon();
        let Some(id) = lock(&self.state).lease.take() else { return };
        match tokio::time::timeout(self.timeout, self.store.revoke(id)).await {
            Ok(Ok(())) if led => {
                info!(target: "3rc::ha", "{} steps down: its lease is given back, a standby leads now", self.name)
            }
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(target: "3rc::ha", "{}: {e}; it expires within its TTL", self.name),
            Err(_) => warn!(target: "3rc::ha", "{}: etcd did not answer; the lease expires within its TTL", self.name),
        }
    }

    /// Stop campaigning and renewing, as a crash would: this instance leads no more, and
    /// another takes the key once the store has expired the lease.
    pub fn abandon(&self) {
        if let Some(t) = lock(&self.task).take() {
            t.abort();
        }
        let mut state = lock(&self.state);
        state.stop_leading();
        state.held = None;
    }

    /// One request, bounded by a quarter of the TTL.
    async fn ask<T>(&self, f: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
        tokio::time::timeout(self.timeout, f).await.map_err(|_| "etcd did not answer".to_string())?
    }
}

/// Read what the store keeps for the leader (see `Leadership::take_shared`); mark it as kept
/// from now on if it was not.
async fn read_shared<S: LeaseStore>(me: &Elector<S>, rev: i64) -> Result<Option<Vec<(String, String)>>, String> {
    let marker = format!("{}/shared", me.prefix);
    let dir = format!("{}/state/", me.prefix);
    let mine = || vec![Created(me.key.clone(), rev)];
    let r = me.ask(me.store.txn(mine(), vec![Op::Get(marker.clone()), Op::GetPrefix(dir.clone())], vec![])).await?;
    if !r.succeeded {
        return Err(format!("{} is no longer this supervisor's", me.key));
    }
    if r.read.first().is_some_and(|m| !m.is_empty()) {
        let entries = r.read.into_iter().nth(1).unwrap_or_default();
        return Ok(Some(
            entries.into_iter().map(|(k, v)| (k.trim_start_matches(dir.as_str()).to_string(), v)).collect(),
        ));
    }
    let put = Op::Put { key: marker, value: "1".into(), lease: None };
    if !me.ask(me.store.txn(mine(), vec![put], vec![])).await?.succeeded {
        return Err(format!("{} is no longer this supervisor's", me.key));
    }
    Ok(None)
}

impl<S: LeaseStore> Leadership for Elector<S> {
    fn name(&self) -> &str {
        &self.name
    }

    fn leads(&self) -> bool {
        lock(&self.state).leads_until.is_some_and(|t| Instant::now() < t)
    }

    fn leader(&self) -> Option<String> {
        lock(&self.state).leader.clone()
    }

    fn take_shared(&self) -> Option<Option<Vec<(String, String)>>> {
        lock(&self.state).shared.take()
    }

    fn share(&self, key: String, value: Option<String>) -> StoreFuture {
        let (store, leader_key, held, timeout) =
            (self.store.clone(), self.key.clone(), lock(&self.state).held, self.timeout);
        let entry = format!("{}/state/{key}", self.prefix);
        Box::pin(async move {
            let Some(rev) = held else { return Err("this supervisor does not lead".into()) };
            let op = match value {
                Some(value) => Op::Put { key: entry, value, lease: None },
                None => Op::Delete(entry),
            };
            let txn = store.txn(vec![Created(leader_key.clone(), rev)], vec![op], vec![]);
            match tokio::time::timeout(timeout, txn).await {
                Ok(Ok(r)) if r.succeeded => Ok(()),
                Ok(Ok(_)) => Err(format!("{leader_key} is no longer this supervisor's")),
                Ok(Err(e)) => Err(e),
                Err(_) => Err("etcd did not answer".into()),
            }
        })
    }

    fn confirm(&self) -> StoreFuture {
        let (store, key, held, timeout) = (self.store.clone(), self.key.clone(), lock(&self.state).held, self.timeout);
        let leads = self.leads();
        Box::pin(async move {
            let Some(rev) = held.filter(|_| leads) else { return Err("this supervisor does not lead".into()) };
            match tokio::time::timeout(timeout, store.txn(vec![Created(key.clone(), rev)], vec![], vec![])).await {
                Ok(Ok(r)) if r.succeeded => Ok(()),
                Ok(Ok(_)) => Err(format!("{key} is no longer this supervisor's")),
                Ok(Err(e)) => Err(e),
                Err(_) => Err("etcd did not answer".into()),
            }
        })
    }

    fn publish(&self, view: String) {
        lock(&self.state).view = Some(view);
    }

    fn peers(&self) -> Vec<String> {
        lock(&self.state).peers.clone()
    }

    fn forward(&self, request: String, wait: Duration) -> crate::hv::ForwardFuture {
        let (store, timeout) = (self.store.clone(), self.timeout);
        let (lease, n) = {
            let mut s = lock(&self.state);
            s.forwarded += 1;
            (s.lease, s.forwarded)
        };
        // Unique across this instance's restarts: its start time, then a counter.
        let id = format!("{}/{}-{n}", self.name, started_ms());
        let (asked, answered) = (format!("{}/requests/{id}", self.prefix), format!("{}/answers/{id}", self.prefix));
        Box::pin(async move {
            let Some(lease) = lease else { return Err("this supervisor holds no lease in etcd yet".into()) };
            let ask =
                async |when, then, otherwise| match tokio::time::timeout(timeout, store.txn(when, then, otherwise))
                    .await
                {
                    Ok(r) => r,
                    Err(_) => Err("etcd did not answer".to_string()),
                };
            let put = Op::Put { key: asked.clone(), value: request, lease: Some(lease) };
            ask(vec![], vec![put], vec![]).await?;
            let deadline = Instant::now() + wait;
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let Ok(r) = ask(vec![], vec![Op::Get(answered.clone())], vec![]).await else { continue };
                if let Some((_, answer)) = r.read.into_iter().next().and_then(|kvs| kvs.into_iter().next()) {
                    let _ = ask(vec![], vec![Op::Delete(answered.clone())], vec![]).await;
                    return Ok(answer);
                }
            }
            // Withdrawn, if the leader has not taken it yet.
            let _ = ask(vec![], vec![Op::Delete(asked)], vec![]).await;
            Err(format!("no answer within {}", crate::core::time::human(wait)))
        })
    }

    fn take_requests(&self) -> Vec<(String, String)> {
        std::mem::take(&mut lock(&self.state).requests)
    }

    fn answer(&self, id: String, answer: String) -> StoreFuture {
        let (store, timeout, lease) = (self.store.clone(), self.timeout, lock(&self.state).lease);
        let key = format!("{}/answers/{id}", self.prefix);
        Box::pin(async move {
            // Bound to the leader's lease: an answer nobody reads goes with it.
            let put = Op::Put { key, value: answer, lease };
            match tokio::time::timeout(timeout, store.txn(vec![], vec![put], vec![])).await {
                Ok(r) => r.map(|_| ()),
                Err(_) => Err("etcd did not answer".into()),
            }
        })
    }

    fn stand(&self, fit: bool) {
        let mut state = lock(&self.state);
        if state.standing == fit {
            return;
        }
        state.standing = fit;
        if fit {
            info!(target: "3rc::ha", "{} is fit to lead again: it campaigns", self.name);
        } else {
            let leads = state.leads_until.is_some_and(|t| Instant::now() < t);
            state.stop_leading();
            warn!(target: "3rc::ha", "{} is the one cut off (it lacks the quorum another supervisor has): {}", self.name,
                if leads { "it stops leading now and gives the key up" } else { "it does not campaign" });
        }
    }
}

/// When this process started, in ms since the epoch (numbers forwarded requests).
fn started_ms() -> u128 {
    static STARTED: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    *STARTED
        .get_or_init(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis()))
}

/// The margin taken off the TTL (see the module's doc).
fn margin(ttl: Duration) -> Duration {
    (ttl / 10).max(Duration::from_millis(200))
}

/// Renew the lease, campaign, publish the view and read the others', every quarter of the TTL.
async fn campaign<S: LeaseStore>(me: Arc<Elector<S>>) {
    let mut failing = false;
    // When the last round that etcd answered started.
    let mut answered = Instant::now();
    loop {
        let round_started = Instant::now();
        let result = round(&me).await;
        if result.is_ok() {
            answered = round_started;
        }
        match result {
            Ok(()) if failing => {
                failing = false;
                lock(&me.state).silent_since = None;
                info!(target: "3rc::ha", "{}: etcd answers again", me.name);
            }
            Ok(()) => {}
            Err(e) => {
                if !failing {
                    warn!(target: "3rc::ha", "{}: {e}; a leader stops leading when its lease runs out", me.name);
                }
                failing = true;
                let mut state = lock(&me.state);
                if state.leads_until.is_some_and(|t| Instant::now() >= t) {
                    warn!(target: "3rc::ha", "{}: its lease ran out: it stops leading", me.name);
                    state.stop_leading();
                }
                // It keeps its lease and its key: if etcd answers again before the lease
                // expired there (a raft election, where the new raft leader gives every lease
                // its whole TTL again), the next round renews it and finds the key still its
                // own, and it leads again at once; if the lease is gone, so is the key.
                if state.silent_since.is_none() {
                    state.silent_since = Some(answered);
                }
                if state.leads_until.is_none() {
                    state.leader = None;
                }
            }
        }
        tokio::time::sleep_until(round_started + me.ttl / 4).await;
    }
}

/// One round (see [`campaign`]).
async fn round<S: LeaseStore>(me: &Elector<S>) -> Result<(), String> {
    let mut sent = Instant::now();
    let lease = lock(&me.state).lease;
    let renewed = match lease {
        Some(id) => me.ask(me.store.keep_alive(id)).await? > 0,
        None => false,
    };
    if !renewed {
        // None yet, or it expired (etcd without quorum for longer than the TTL, or this
        // instance cut off): whatever this instance held went with it; a new lease at once,
        // as good as a renewal (etcd expires it no sooner than TTL after it granted it).
        {
            let mut state = lock(&me.state);
            if state.lease.is_some() {
                state.stop_leading();
                state.held = None;
            }
        }
        sent = Instant::now();
        let id = me.ask(me.store.grant(me.ttl.as_secs_f64().ceil() as i64)).await?;
        let mut state = lock(&me.state);
        state.lease = Some(id);
        state.granted = Some(sent);
    }
    let Some(id) = lock(&me.state).lease else { return Err("no lease".into()) };
    let (held, standing, view, written) = {
        let s = lock(&me.state);
        (s.held, s.standing, s.view.clone(), s.written.clone())
    };
    let views = format!("{}/views/", me.prefix);
    let mut tail = Vec::new();
    let write = view.filter(|v| written.as_ref() != Some(&(id, v.clone())));
    if let Some(v) = &write {
        tail.push(Op::Put { key: format!("{views}{}", me.name), value: v.clone(), lease: Some(id) });
    }
    tail.push(Op::GetPrefix(views.clone()));
    let requests = format!("{}/requests/", me.prefix);
    tail.push(Op::GetPrefix(requests.clone()));
    let key = me.key.clone();
    let with = |mut ops: Vec<Op>| {
        ops.extend(tail.iter().cloned());
        ops
    };
    let read_key = with(vec![Op::Get(key.clone())]);
    let (when, then) = match (held, standing) {
        (Some(rev), true) => (vec![Created(key.clone(), rev)], with(vec![])),
        (Some(rev), false) => (vec![Created(key.clone(), rev)], with(vec![Op::Delete(key.clone())])),
        (None, true) => (
            vec![Created(key.clone(), 0)],
            with(vec![Op::Put { key: key.clone(), value: me.name.clone(), lease: Some(id) }]),
        ),
        (None, false) => (vec![], read_key.clone()),
    };
    let r: Reply = me.ask(me.store.txn(when, then, read_key)).await?;
    let mut read = r.read.into_iter();
    // The branch that ran read the key first, unless it kept, took or gave up the key.
    let holds = r.succeeded && standing;
    let leader_read = if !r.succeeded || (held.is_none() && !standing) { read.next() } else { None };
    let peers: Vec<String> = read
        .next()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k.strip_prefix(views.as_str()) != Some(me.name.as_str()))
        .map(|(_, v)| v)
        .collect();
    let asked = read.next().unwrap_or_default();
    {
        let mut state = lock(&me.state);
        state.peers = peers;
        if let Some(v) = write {
            state.written = Some((id, v));
        }
    }
    if holds {
        let rev = match held {
            Some(rev) => rev,
            None => {
                lock(&me.state).held = Some(r.revision);
                info!(target: "3rc::ha", "{} holds {key} (revision {})", me.name, r.revision);
                r.revision
            }
        };
        // What the former leader kept, read before this instance counts as leading.
        if !lock(&me.state).shared_read {
            let shared = read_shared(me, rev).await?;
            let mut state = lock(&me.state);
            state.shared = Some(shared);
            state.shared_read = true;
        }
        {
            let mut state = lock(&me.state);
            // The others' views are complete only once each live one has had a round to
            // publish under a lease of the same era as this one's (after etcd regained its
            // quorum, every lease is new): until then it holds the key but does not lead, so
            // that no fence is decided on a partial vote.
            let settled = state.granted.is_some_and(|g| sent >= g + me.ttl / 2);
            // Back after a long silence (etcd without quorum for more than three TTLs), on the
            // key it kept: the views of instances that died meanwhile are still there (etcd
            // renewed their leases too) until their leases run out, a TTL after etcd answered
            // again; it leads no sooner, as a new leader would. After a shorter silence (a raft
            // election: 1-3 s) such a view is no more than a few seconds staler than any view of
            // an instance just gone can be.
            if let Some(since) = state.silent_since.take() {
                if held.is_some() && sent > since + 3 * me.ttl {
                    state.resettle_until = Some(sent + me.ttl + margin(me.ttl));
                    info!(target: "3rc::ha", "{} still holds {key} after etcd was silent {:.1} s: it leads again in {:.1} s, \
                        once the views of supervisors gone meanwhile have expired",
                        me.name, (sent - since).as_secs_f64(), me.ttl.as_secs_f64());
                }
            }
            let settled = settled && state.resettle_until.is_none_or(|t| sent >= t);
            // Told meanwhile that it is not fit: the next round gives the key up.
            if state.standing && settled {
                state.leader = Some(me.name.clone());
                state.leads_until = Some(sent + me.ttl - margin(me.ttl));
            }
        }
        for (key, request) in asked {
            // Taken out of the store while this instance holds the key, or not at all.
            let take = me.ask(me.store.txn(
                vec![Created(me.key.clone(), rev)],
                vec![Op::Get(key.clone()), Op::Delete(key.clone())],
                vec![],
            ));
            let taken = take.await?;
            if taken.succeeded && taken.read.first().is_some_and(|kvs| !kvs.is_empty()) {
                let id = key.trim_start_matches(requests.as_str()).to_string();
                lock(&me.state).requests.push((id, request));
            }
        }
        return Ok(());
    }
    let mut state = lock(&me.state);
    if held.is_some() {
        if r.succeeded {
            info!(target: "3rc::ha", "{} gave {key} up: a better-placed supervisor can lead", me.name);
        } else {
            warn!(target: "3rc::ha", "{} no longer holds {key}: it stops leading", me.name);
        }
        state.held = None;
    }
    state.stop_leading();
    state.leader = leader_read.and_then(|kvs| kvs.into_iter().next()).map(|(_, v)| v);
    Ok(())
}
