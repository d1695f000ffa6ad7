//! [`LeaseStore`] on etcd (the `etcd-client` crate). Requests require an etcd leader, so a
//! member cut from etcd's quorum answers nothing.

use super::store::{Created, LeaseStore, Op, Reply};
use crate::config::HaConfig;
use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, PutOptions, Txn, TxnOp, TxnOpResponse};

pub struct EtcdStore {
    client: Client,
    /// The keep-alive stream of the lease being renewed.
    keeper: tokio::sync::Mutex<Option<(i64, etcd_client::LeaseKeeper, etcd_client::LeaseKeepAliveStream)>>,
}

impl EtcdStore {
    /// Connect to `cfg`'s endpoints; every request gives up after a quarter of the TTL.
    pub async fn connect(cfg: &HaConfig) -> anyhow::Result<EtcdStore> {
        let round = cfg.ttl / 4;
        let options = ConnectOptions::new()
            .with_connect_timeout(round)
            .with_timeout(round)
            .with_keep_alive(round, round)
            .with_require_leader(true);
        let client = Client::connect(&cfg.endpoints, Some(options))
            .await
            .map_err(|e| anyhow::anyhow!("[ha] etcd at {}: {e}", cfg.endpoints.join(", ")))?;
        Ok(EtcdStore { client, keeper: Default::default() })
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
        let mut client = self.client.clone();
        client.lease_grant(ttl, None).await.map(|g| g.id()).map_err(|e| format!("granting a lease: {e}"))
    }

    async fn keep_alive(&self, id: i64) -> Result<i64, String> {
        let mut keeper = self.keeper.lock().await;
        if keeper.as_ref().is_none_or(|(held, _, _)| *held != id) {
            let mut client = self.client.clone();
            let (k, s) = client.lease_keep_alive(id).await.map_err(|e| format!("keeping the lease: {e}"))?;
            *keeper = Some((id, k, s));
        }
        let Some((_, k, stream)) = keeper.as_mut() else { unreachable!("set just above") };
        let answer = async {
            k.keep_alive().await?;
            stream.message().await
        }
        .await;
        match answer {
            Ok(Some(a)) => Ok(a.ttl()),
            Ok(None) => {
                *keeper = None;
                Err("renewing the lease: the stream ended".into())
            }
            Err(e) => {
                *keeper = None;
                Err(format!("renewing the lease: {e}"))
            }
        }
    }

    async fn revoke(&self, id: i64) -> Result<(), String> {
        let mut client = self.client.clone();
        client.lease_revoke(id).await.map(|_| ()).map_err(|e| format!("giving the lease back: {e}"))
    }

    async fn txn(&self, when: Vec<Created>, then: Vec<Op>, otherwise: Vec<Op>) -> Result<Reply, String> {
        let mut client = self.client.clone();
        let compares: Vec<Compare> =
            when.into_iter().map(|Created(k, rev)| Compare::create_revision(k, CompareOp::Equal, rev)).collect();
        let txn = Txn::new()
            .when(compares)
            .and_then(then.into_iter().map(op).collect::<Vec<_>>())
            .or_else(otherwise.into_iter().map(op).collect::<Vec<_>>());
        let r = client.txn(txn).await.map_err(|e| format!("etcd: {e}"))?;
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
