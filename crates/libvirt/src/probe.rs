//! The probe: a host's capacity and every domain defined on it, in as few calls as the driver
//! allows.
//!
//! Preferred path: one `virConnectGetAllDomainStats` call (state + vcpu + balloon groups, active
//! and inactive domains). Measured on libvirt 9.0's test driver: the bulk call is supported but
//! only fills the `state` group (`state.state`, `state.reason`); with ENFORCE_STATS it answers
//! "Stats types bits 0xc are not supported by this daemon", i.e. vcpu and balloon are missing.
//! So on the test driver a probe is 1 bulk call + 1 `virDomainGetInfo` per domain for the sizes;
//! on qemu, which fills all three groups for inactive domains too, it is the single bulk call.
//! Where the bulk call itself is unsupported (older or other drivers), the probe falls back to
//! `list_all_domains` + `info()`/`state()` per domain, and remembers that for the connection.

use super::bulk_stats::{self, StatsRecord};
use super::errors::{self, Kind};
use super::states::map_state;
use threerc_core::{Capacity, DomState, DomainObs, HostProbe};
use virt::connect::{Connect, NodeInfo};
use virt::domain::{Domain, DomainState, DomainStateReason};
use virt::enumutil::Enum;
use virt::error::Error;

/// Whether this connection's driver implements the bulk stats call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum BulkSupport {
    #[default]
    Unknown,
    /// The bulk call with NOWAIT works (a real daemon).
    NoWait,
    /// The bulk call works, without NOWAIT (e.g. the test driver rejects that flag).
    Plain,
    No,
}

pub(super) fn probe(conn: &Connect, bulk: &mut BulkSupport) -> Result<HostProbe, Error> {
    let capacity = capacity(&conn.node_info()?);
    let mut domains = loop {
        let nowait = match *bulk {
            BulkSupport::No => break per_domain(conn)?,
            BulkSupport::Unknown | BulkSupport::NoWait => true,
            BulkSupport::Plain => false,
        };
        match bulk_stats::all_domain_stats(conn, nowait) {
            Ok(records) => {
                if *bulk == BulkSupport::Unknown {
                    *bulk = BulkSupport::NoWait;
                }
                break from_records(records)?;
            }
            Err(e) if nowait && errors::is_flags_rejected(&e) => {
                tracing::debug!(target: "libvirt", "bulk stats without NOWAIT ({})", e.message());
                *bulk = BulkSupport::Plain;
            }
            Err(e) if errors::kind(&e) == Kind::Unsupported => {
                tracing::debug!(
                    target: "libvirt",
                    "bulk domain stats unsupported ({}), probing domain by domain",
                    e.message()
                );
                *bulk = BulkSupport::No;
            }
            Err(e) => return Err(e),
        }
    };
    domains.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(HostProbe { capacity, domains })
}

/// Logical CPUs (threads) and memory. `cpus` is libvirt's count of active CPUs; a driver that
/// reports 0 gets the topology product instead.
fn capacity(info: &NodeInfo) -> Capacity {
    let cpus = if info.cpus > 0 {
        info.cpus
    } else {
        info.nodes.saturating_mul(info.sockets).saturating_mul(info.cores).saturating_mul(info.threads)
    };
    Capacity { cpus, memory_kib: info.memory }
}

fn from_records(records: Vec<StatsRecord>) -> Result<Vec<DomainObs>, Error> {
    let mut out = Vec::with_capacity(records.len());
    for rec in records {
        match (rec.state, rec.vcpus, rec.max_memory_kib) {
            (Some(state), Some(vcpus), Some(memory_kib)) => out.push(DomainObs {
                state: map_state(i64::from(state), rec.reason.map_or(-1, i64::from)),
                name: rec.name,
                vcpus,
                memory_kib,
            }),
            // The driver left out a group: ask this domain directly, but keep the bulk state.
            _ => {
                if let Some(mut obs) = observe(&rec.domain, rec.name)? {
                    if let Some(state) = rec.state {
                        obs.state = map_state(i64::from(state), rec.reason.map_or(-1, i64::from));
                    }
                    out.push(obs);
                }
            }
        }
    }
    Ok(out)
}

fn per_domain(conn: &Connect) -> Result<Vec<DomainObs>, Error> {
    // Flags 0: every domain, active and inactive, persistent and transient.
    let mut out = Vec::new();
    for dom in conn.list_all_domains(0)? {
        let name = match dom.name() {
            Ok(n) => n,
            Err(e) if errors::kind(&e) == Kind::NoDomain => continue,
            Err(e) => return Err(e),
        };
        if let Some(obs) = observe(&dom, name)? {
            out.push(obs);
        }
    }
    Ok(out)
}

/// One domain by `info()` (+ `state()` for the shut-off reason). `None` if it vanished meanwhile.
fn observe(dom: &Domain, name: String) -> Result<Option<DomainObs>, Error> {
    let info = match dom.info() {
        Ok(i) => i,
        Err(e) if errors::kind(&e) == Kind::NoDomain => return Ok(None),
        Err(e) => return Err(e),
    };
    let state = match info.state {
        // `Domain::state()` in virt 0.5 ignores libvirt's error and then reports state -1, so it
        // is used only for the reason; `info()` (which does check errors) gives the state.
        Enum::Known(DomainState::Shutoff) => match dom.state() {
            Ok((_, Enum::Known(DomainStateReason::Shutoff(reason)))) => {
                map_state(i64::from(info.state.to_raw()), i64::from(reason.to_raw()))
            }
            _ => DomState::ShutOff,
        },
        s => map_state(i64::from(s.to_raw()), -1),
    };
    Ok(Some(DomainObs { name, state, vcpus: info.nr_virt_cpu, memory_kib: info.max_mem }))
}
