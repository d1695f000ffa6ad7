//! Several supervisors of one cluster, one leading, on etcd (`[ha]`), after Patroni's model:
//! a leader key bound to a lease with a TTL that the leader renews; the instance that cannot
//! renew stops leading at once; the others take the key when the lease has expired.
//!
//! Each instance holds a lease (`ttl`, renewed every quarter of it) and campaigns for the key
//! `PREFIX/leader` with a transaction: put it, bound to its lease, if it does not exist
//! (`create_revision == 0`). The instance whose put succeeded leads; it checks every round that
//! the key is still the one it made (`create_revision` unchanged).
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

use crate::config::HaConfig;
use crate::hv::{Leadership, StoreFuture};
use etcd_client::{Client, Compare, CompareOp, ConnectOptions, PutOptions, Txn, TxnOp, TxnOpResponse};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// What this instance knows of the leadership.
#[derive(Default)]
struct State {
    /// Until when it leads, by its own clock (`None`: it does not).
    leads_until: Option<Instant>,
    /// Who leads, as last read.
    leader: Option<String>,
    /// The shared entries read when this instance took the lead, until the supervisor takes
    /// them (`Some(None)`: the store held none yet).
    shared: Option<Option<Vec<(String, String)>>>,
    /// Whether they were read in this tenure.
    shared_read: bool,
}

/// Leadership kept in etcd.
pub struct EtcdLeadership {
    name: String,
    key: String,
    /// The cluster's keys' prefix.
    prefix: String,
    client: Client,
    state: Arc<Mutex<State>>,
    /// The leader key's `create_revision` while this instance holds it.
    held: Arc<Mutex<Option<i64>>>,
    timeout: Duration,
    /// The campaign's task.
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The lease this instance holds now.
    lease_id: Mutex<Option<i64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl EtcdLeadership {
    /// Connect to etcd and start campaigning (a task of its own, for the life of the process).
    pub async fn start(cfg: &HaConfig) -> anyhow::Result<Arc<EtcdLeadership>> {
        let round = cfg.ttl / 4;
        let options = ConnectOptions::new()
            .with_connect_timeout(round)
            .with_timeout(round)
            .with_keep_alive(round, round)
            .with_require_leader(true);
        let client = Client::connect(&cfg.endpoints, Some(options))
            .await
            .map_err(|e| anyhow::anyhow!("[ha] etcd at {}: {e}", cfg.endpoints.join(", ")))?;
        let me = Arc::new(EtcdLeadership {
            name: cfg.name.clone(),
            key: format!("{}/leader", cfg.prefix),
            prefix: cfg.prefix.clone(),
            client,
            state: Default::default(),
            held: Default::default(),
            timeout: round,
            task: Default::default(),
            lease_id: Default::default(),
        });
        info!(target: "3rc::ha", "{} campaigns for {} on etcd at {} (lease TTL {})", me.name, me.key, cfg.endpoints.join(", "), crate::core::time::human(cfg.ttl));
        *lock(&me.task) = Some(tokio::spawn(campaign(me.clone(), cfg.ttl)));
        Ok(me)
    }

    /// Step down for a clean stop: stop campaigning and give the lease back, so that a standby
    /// leads at once instead of after the TTL. Called once the supervisor has stopped acting.
    pub async fn resign(&self) {
        let led = self.leads();
        self.abandon();
        let Some(id) = lock(&self.lease_id).take() else { return };
        let mut client = self.client.clone();
        match tokio::time::timeout(self.timeout, client.lease_revoke(id)).await {
            Ok(Ok(_)) if led => {
                info!(target: "3rc::ha", "{} steps down: its lease is given back, a standby leads now", self.name)
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                warn!(target: "3rc::ha", "{}: giving the lease back: {e}; it expires within its TTL", self.name)
            }
            Err(_) => warn!(target: "3rc::ha", "{}: etcd did not answer; the lease expires within its TTL", self.name),
        }
    }

    /// Stop campaigning and renewing, as a crash would: this instance leads no more, and
    /// another takes the key once etcd has expired the lease.
    pub fn abandon(&self) {
        if let Some(t) = lock(&self.task).take() {
            t.abort();
        }
        let mut state = lock(&self.state);
        state.leads_until = None;
        state.shared_read = false;
        state.shared = None;
        drop(state);
        *lock(&self.held) = None;
    }
}

/// Read what the store keeps for the leader (see `Leadership::take_shared`); mark it as kept
/// from now on if it was not.
async fn read_shared(
    client: &mut Client,
    prefix: &str,
    leader_key: &str,
    rev: i64,
) -> Result<Option<Vec<(String, String)>>, String> {
    let marker = format!("{prefix}/shared");
    let dir = format!("{prefix}/decisions/");
    let got = client.get(marker.as_str(), None).await.map_err(|e| format!("reading {marker}: {e}"))?;
    if got.kvs().is_empty() {
        let txn = Txn::new()
            .when([Compare::create_revision(leader_key, CompareOp::Equal, rev)])
            .and_then([TxnOp::put(marker.as_str(), "1", None)]);
        let r = client.txn(txn).await.map_err(|e| format!("writing {marker}: {e}"))?;
        if !r.succeeded() {
            return Err(format!("{leader_key} is no longer this supervisor's"));
        }
        return Ok(None);
    }
    let all = client
        .get(dir.as_str(), Some(etcd_client::GetOptions::new().with_prefix()))
        .await
        .map_err(|e| format!("reading {dir}: {e}"))?;
    let mut out = Vec::new();
    for kv in all.kvs() {
        let (Ok(k), Ok(v)) = (kv.key_str(), kv.value_str()) else { continue };
        out.push((k.trim_start_matches(dir.as_str()).to_string(), v.to_string()));
    }
    Ok(Some(out))
}

impl Leadership for EtcdLeadership {
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
        let (mut client, leader_key, held, timeout) =
            (self.client.clone(), self.key.clone(), *lock(&self.held), self.timeout);
        let entry = format!("{}/decisions/{key}", self.prefix);
        Box::pin(async move {
            let Some(rev) = held else { return Err("this supervisor does not lead".into()) };
            let op = match value {
                Some(v) => TxnOp::put(entry, v, None),
                None => TxnOp::delete(entry, None),
            };
            let txn =
                Txn::new().when([Compare::create_revision(leader_key.as_str(), CompareOp::Equal, rev)]).and_then([op]);
            match tokio::time::timeout(timeout, client.txn(txn)).await {
                Ok(Ok(r)) if r.succeeded() => Ok(()),
                Ok(Ok(_)) => Err(format!("{leader_key} is no longer this supervisor's")),
                Ok(Err(e)) => Err(format!("etcd: {e}")),
                Err(_) => Err("etcd did not answer".into()),
            }
        })
    }

    fn confirm(&self) -> StoreFuture {
        let (mut client, key, held, timeout) = (self.client.clone(), self.key.clone(), *lock(&self.held), self.timeout);
        let leads = self.leads();
        Box::pin(async move {
            let Some(rev) = held.filter(|_| leads) else { return Err("this supervisor does not lead".into()) };
            let txn = Txn::new().when([Compare::create_revision(key.as_str(), CompareOp::Equal, rev)]);
            match tokio::time::timeout(timeout, client.txn(txn)).await {
                Ok(Ok(r)) if r.succeeded() => Ok(()),
                Ok(Ok(_)) => Err(format!("{key} is no longer this supervisor's")),
                Ok(Err(e)) => Err(format!("etcd: {e}")),
                Err(_) => Err("etcd did not answer".into()),
            }
        })
    }
}

/// The margin taken off the TTL (see the module's doc).
fn margin(ttl: Duration) -> Duration {
    (ttl / 10).max(Duration::from_millis(200))
}

/// Renew the lease, campaign, and keep the state, every quarter of the TTL.
async fn campaign(me: Arc<EtcdLeadership>, ttl: Duration) {
    let mut client = me.client.clone();
    let secs = ttl.as_secs_f64().ceil() as i64;
    let mut lease: Option<(i64, etcd_client::LeaseKeeper, etcd_client::LeaseKeepAliveStream)> = None;
    let mut failing = false;
    loop {
        let round_started = Instant::now();
        let result: Result<(), String> = async {
            if lease.is_none() {
                let granted = client.lease_grant(secs, None).await.map_err(|e| format!("granting a lease: {e}"))?;
                let (keeper, stream) =
                    client.lease_keep_alive(granted.id()).await.map_err(|e| format!("keeping the lease: {e}"))?;
                lease = Some((granted.id(), keeper, stream));
                *lock(&me.lease_id) = Some(granted.id());
            }
            let Some((id, keeper, stream)) = lease.as_mut() else { return Ok(()) };
            let sent = Instant::now();
            keeper.keep_alive().await.map_err(|e| format!("renewing the lease: {e}"))?;
            let answer = tokio::time::timeout(me.timeout, stream.message())
                .await
                .map_err(|_| "etcd did not answer the renewal".to_string())?
                .map_err(|e| format!("renewing the lease: {e}"))?;
            match answer {
                Some(a) if a.ttl() > 0 => {}
                _ => {
                    // Expired (or the stream ended): a new lease next round.
                    lease = None;
                    return Err("the lease expired".into());
                }
            }
            let id = *id;
            let held = *lock(&me.held);
            let key = me.key.as_str();
            let txn = match held {
                // Still the key this instance made?
                Some(rev) => Txn::new()
                    .when([Compare::create_revision(key, CompareOp::Equal, rev)])
                    .or_else([TxnOp::get(key, None)]),
                None => Txn::new()
                    .when([Compare::create_revision(key, CompareOp::Equal, 0)])
                    .and_then([TxnOp::put(key, me.name.as_str(), Some(PutOptions::new().with_lease(id)))])
                    .or_else([TxnOp::get(key, None)]),
            };
            let r = client.txn(txn).await.map_err(|e| format!("campaigning: {e}"))?;
            if r.succeeded() {
                let rev = match held {
                    Some(rev) => rev,
                    None => {
                        let rev = r.header().map(|h| h.revision()).unwrap_or(0);
                        *lock(&me.held) = Some(rev);
                        info!(target: "3rc::ha", "{} holds {key} (revision {rev})", me.name);
                        rev
                    }
                };
                // What the former leader kept, read before this instance counts as leading.
                if !lock(&me.state).shared_read {
                    let shared = read_shared(&mut client, &me.prefix, key, rev).await?;
                    let mut state = lock(&me.state);
                    state.shared = Some(shared);
                    state.shared_read = true;
                }
                let mut state = lock(&me.state);
                state.leader = Some(me.name.clone());
                state.leads_until = Some(sent + ttl - margin(ttl));
            } else {
                let mut state = lock(&me.state);
                if held.is_some() {
                    warn!(target: "3rc::ha", "{} no longer holds {key}: it stops leading", me.name);
                    *lock(&me.held) = None;
                }
                state.leads_until = None;
                state.shared_read = false;
                state.shared = None;
                state.leader = r.op_responses().into_iter().find_map(|op| match op {
                    TxnOpResponse::Get(g) => g.kvs().first().and_then(|kv| kv.value_str().ok().map(str::to_string)),
                    _ => None,
                });
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) if failing => {
                failing = false;
                info!(target: "3rc::ha", "{}: etcd answers again", me.name);
            }
            Ok(()) => {}
            Err(e) => {
                if !failing {
                    warn!(target: "3rc::ha", "{}: {e}; a leader stops leading when its lease runs out", me.name);
                }
                failing = true;
                if lease.is_some() && e.contains("lease") {
                    lease = None;
                }
                let mut state = lock(&me.state);
                if state.leads_until.is_some_and(|t| Instant::now() >= t) {
                    warn!(target: "3rc::ha", "{}: its lease ran out: it stops leading", me.name);
                    state.leads_until = None;
                    state.shared_read = false;
                    state.shared = None;
                    *lock(&me.held) = None;
                }
                if state.leads_until.is_none() {
                    state.leader = None;
                }
            }
        }
        tokio::time::sleep((ttl / 4).saturating_sub(round_started.elapsed())).await;
    }
}
