//! Placement: which host should run a VM, and why every other host was not chosen.
//!
//! The answer is a trace (Pacemaker's `crm_simulate --show-scores` is the model): one verdict per
//! host, so a person can see "why here, why not there".

use super::model::{Capacity, PlacementPolicy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A host as placement sees it in one decision.
#[derive(Clone, Debug)]
pub struct Slot {
    pub host: String,
    /// `Err(reason)` when the host may not receive VMs at all (down, maintenance, ...).
    pub accepts: Result<(), String>,
    pub capacity: Option<Capacity>,
    pub used_vcpus: u32,
    pub used_memory_kib: u64,
    /// Anti-affinity groups that already have a VM here.
    pub groups: BTreeSet<String>,
    /// The disks this host can reach (volume paths and `pool/volume` names), if known. `None`:
    /// not known yet, or the backend cannot tell; disks are then not checked.
    pub volumes: Option<Arc<BTreeSet<String>>>,
}

/// What placement needs to know about the VM.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    pub vm: &'a str,
    pub vcpus: u32,
    pub memory_kib: u64,
    pub anti_affinity: Option<&'a str>,
    /// Hosts to avoid (where it just failed, where a start failed lately), each with the
    /// reason to show.
    pub avoid: &'a [(String, String)],
    /// The VM's disks (paths or `pool/volume`): a host must reach them all.
    pub disks: &'a [String],
    /// Its host rules: the hosts it must run on (empty: any), and its preferred tiers.
    pub hosts: &'a [String],
    pub prefer: &'a [Vec<String>],
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Verdict {
    Chosen {
        score: i64,
    },
    /// Could take it, but scored lower.
    Eligible {
        score: i64,
    },
    Rejected {
        reason: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub host: String,
    pub verdict: Verdict,
    /// The VM's preference tier this host is in (1 is the best; one past the last for a host
    /// in none), when the VM has tiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlacementTrace {
    pub vm: String,
    pub chosen: Option<String>,
    pub candidates: Vec<Candidate>,
}

impl PlacementTrace {
    /// One line for logs: "hv2 (free 60%); not hv1: down; not hv3: group db already there".
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for c in &self.candidates {
            let tier = c.tier.map_or(String::new(), |t| format!(", preference tier {t}"));
            match &c.verdict {
                Verdict::Chosen { score } => parts.insert(0, format!("{} (score {score}{tier})", c.host)),
                Verdict::Eligible { score } => parts.push(format!("not {}: score {score}{tier}", c.host)),
                Verdict::Rejected { reason } => parts.push(format!("not {}: {reason}", c.host)),
            }
        }
        if self.chosen.is_none() {
            parts.insert(0, "no host fits".to_string());
        }
        parts.join("; ")
    }
}

/// How a rejection for storage begins: recovery tells such VMs apart from those short of room.
pub const STORAGE_REASON: &str = "disk ";

impl PlacementTrace {
    /// True when every host that could run VMs at all was refused for lacking the VM's disks:
    /// it cannot be recovered elsewhere, whatever room frees up.
    pub fn blocked_by_storage(&self) -> bool {
        let open: Vec<&Candidate> = self
            .candidates
            .iter()
            .filter(|c| !matches!(&c.verdict, Verdict::Rejected { reason } if reason.starts_with("host is ") || reason == "in maintenance" || reason.starts_with("rejoining")))
            .collect();
        self.chosen.is_none()
            && !open.is_empty()
            && open
                .iter()
                .all(|c| matches!(&c.verdict, Verdict::Rejected { reason } if reason.starts_with(STORAGE_REASON)))
    }
}

fn mib(kib: u64) -> u64 {
    kib / 1024
}

/// Judge one slot for the request. The score (higher is better) is the share of memory left
/// free after placement, in tenths of a percent, minus a small term for vCPU load: spreading VMs
/// keeps the most room for a later failover.
fn judge(slot: &Slot, req: &Request, policy: &PlacementPolicy) -> Result<i64, String> {
    slot.accepts.clone()?;
    if !req.hosts.is_empty() && !req.hosts.contains(&slot.host) {
        return Err(format!("{} must run on {} (hosts)", req.vm, req.hosts.join(", ")));
    }
    if let Some((_, why)) = req.avoid.iter().find(|(h, _)| *h == slot.host) {
        return Err(why.clone());
    }
    if let Some(vols) = &slot.volumes {
        if let Some(missing) = req.disks.iter().find(|d| !vols.contains(*d)) {
            return Err(format!("{STORAGE_REASON}{missing} is on no storage pool of this host"));
        }
    }
    let cap = slot.capacity.ok_or_else(|| "capacity unknown (never probed)".to_string())?;
    if let Some(group) = req.anti_affinity {
        if slot.groups.contains(group) {
            return Err(format!("anti-affinity group {group} already has a VM here"));
        }
    }
    let cpu_limit = (cap.cpus as f64 * policy.cpu_overcommit).floor() as u64;
    let cpu_after = slot.used_vcpus as u64 + req.vcpus as u64;
    if cpu_after > cpu_limit {
        return Err(format!(
            "not enough vCPUs: {} used + {} needed > {} allowed ({} CPUs x {})",
            slot.used_vcpus, req.vcpus, cpu_limit, cap.cpus, policy.cpu_overcommit
        ));
    }
    let mem_limit = (cap.memory_kib as f64 * policy.mem_overcommit).floor() as u64;
    let mem_after = slot.used_memory_kib + req.memory_kib;
    if mem_after > mem_limit {
        return Err(format!(
            "not enough memory: {} MiB used + {} MiB needed > {} MiB allowed",
            mib(slot.used_memory_kib),
            mib(req.memory_kib),
            mib(mem_limit)
        ));
    }
    let mem_free = 1000 - (mem_after * 1000 / mem_limit.max(1)) as i64;
    let cpu_load = (cpu_after * 100 / cpu_limit.max(1)) as i64;
    Ok(mem_free * 10 - cpu_load)
}

/// The preference tier of `host` for `req` (1 is the best; hosts of no tier come after the
/// last), when it has tiers.
fn tier(req: &Request, host: &str) -> Option<usize> {
    if req.prefer.is_empty() {
        return None;
    }
    Some(req.prefer.iter().position(|t| t.iter().any(|h| h == host)).unwrap_or(req.prefer.len()) + 1)
}

/// Choose a host for one VM: of the hosts that can take it, one of its best preference tier,
/// then the best score. Ties go to the host named first, so the answer is deterministic.
pub fn place(slots: &[Slot], req: &Request, policy: &PlacementPolicy) -> PlacementTrace {
    let judged: Vec<(String, Result<i64, String>)> =
        slots.iter().map(|s| (s.host.clone(), judge(s, req, policy))).collect();
    let rank = |h: &str, s: i64| (std::cmp::Reverse(tier(req, h).unwrap_or(0)), s);
    let best = judged
        .iter()
        .filter_map(|(h, r)| r.as_ref().ok().map(|s| (h, *s)))
        .fold(None::<(&String, i64)>, |best, (h, s)| match best {
            Some((bh, bs)) if rank(bh, bs) > rank(h, s) || (rank(bh, bs) == rank(h, s) && bh <= h) => Some((bh, bs)),
            _ => Some((h, s)),
        })
        .map(|(h, _)| h.clone());
    let candidates = judged
        .into_iter()
        .map(|(host, r)| {
            let verdict = match r {
                Ok(score) if Some(&host) == best.as_ref() => Verdict::Chosen { score },
                Ok(score) => Verdict::Eligible { score },
                Err(reason) => Verdict::Rejected { reason },
            };
            let tier = tier(req, &host);
            Candidate { host, verdict, tier }
        })
        .collect();
    PlacementTrace { vm: req.vm.to_string(), chosen: best, candidates }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(host: &str, cpus: u32, mem_mib: u64, used_cpu: u32, used_mib: u64) -> Slot {
        Slot {
            host: host.into(),
            accepts: Ok(()),
            capacity: Some(Capacity { cpus, memory_kib: mem_mib * 1024 }),
            used_vcpus: used_cpu,
            used_memory_kib: used_mib * 1024,
            groups: BTreeSet::new(),
            volumes: None,
        }
    }

    fn req<'a>(vm: &'a str, vcpus: u32, mib: u64, group: Option<&'a str>) -> Request<'a> {
        Request {
            vm,
            vcpus,
            memory_kib: mib * 1024,
            anti_affinity: group,
            avoid: &[],
            disks: &[],
            hosts: &[],
            prefer: &[],
        }
    }

    #[test]
    fn host_rules_must_and_preference_tiers() {
        let slots = vec![slot("hv1", 8, 8192, 0, 0), slot("hv2", 8, 8192, 0, 6000), slot("hv3", 8, 8192, 0, 0)];
        let hosts = ["hv1".to_string(), "hv2".to_string()];
        let must = Request { hosts: &hosts, ..req("lic1", 1, 1024, None) };
        let t = place(&slots, &must, &PlacementPolicy::default());
        assert_eq!(t.chosen.as_deref(), Some("hv1"));
        assert_eq!(verdict(&t, "hv3"), &Verdict::Rejected { reason: "lic1 must run on hv1, hv2 (hosts)".into() });
        // The best tier that can take it wins over a better score; a full tier falls to the next.
        let prefer = vec![vec!["hv2".to_string()], vec!["hv3".to_string()]];
        let tiered = Request { prefer: &prefer, ..req("app1", 1, 1024, None) };
        let t = place(&slots, &tiered, &PlacementPolicy::default());
        assert_eq!(t.chosen.as_deref(), Some("hv2"), "{}", t.summary());
        assert!(t.summary().starts_with("hv2 (score") && t.summary().contains("preference tier 1"), "{}", t.summary());
        assert!(t.summary().contains("not hv1: score") && t.summary().contains("preference tier 3"), "{}", t.summary());
        let big = Request { prefer: &prefer, ..req("app1", 1, 4096, None) };
        let t = place(&slots, &big, &PlacementPolicy::default());
        assert_eq!(t.chosen.as_deref(), Some("hv3"), "hv2 is full: tier 2: {}", t.summary());
    }

    fn verdict<'a>(t: &'a PlacementTrace, host: &str) -> &'a Verdict {
        &t.candidates.iter().find(|c| c.host == host).unwrap().verdict
    }

    #[test]
    fn picks_the_host_with_most_free_memory() {
        let slots = vec![slot("hv1", 8, 8192, 2, 6000), slot("hv2", 8, 8192, 2, 1000)];
        let t = place(&slots, &req("web1", 2, 1024, None), &PlacementPolicy::default());
        assert_eq!(t.chosen.as_deref(), Some("hv2"));
        assert!(matches!(verdict(&t, "hv1"), Verdict::Eligible { .. }));
    }

    #[test]
    fn rejects_hosts_without_memory_and_says_why() {
        let slots = vec![slot("hv1", 8, 4096, 0, 3500)];
        let t = place(&slots, &req("db1", 1, 1024, None), &PlacementPolicy::default());
        assert_eq!(t.chosen, None);
        match verdict(&t, "hv1") {
            Verdict::Rejected { reason } => {
                assert!(reason.contains("not enough memory: 3500 MiB used + 1024 MiB needed"))
            }
            v => panic!("unexpected {v:?}"),
        }
        assert!(t.summary().starts_with("no host fits"));
    }

    #[test]
    fn vcpu_overcommit_ratio_is_applied() {
        let slots = vec![slot("hv1", 2, 65536, 7, 0)];
        let mut p = PlacementPolicy { cpu_overcommit: 4.0, mem_overcommit: 1.0, ..Default::default() };
        assert_eq!(place(&slots, &req("a", 1, 1, None), &p).chosen.as_deref(), Some("hv1"));
        assert_eq!(place(&slots, &req("a", 2, 1, None), &p).chosen, None);
        p.cpu_overcommit = 1.0;
        assert_eq!(place(&slots, &req("a", 1, 1, None), &p).chosen, None);
    }

    #[test]
    fn anti_affinity_group_never_shares_a_host() {
        let mut a = slot("hv1", 8, 8192, 0, 0);
        a.groups.insert("db".into());
        let b = slot("hv2", 8, 8192, 4, 7000);
        let t = place(&[a, b], &req("db2", 1, 512, Some("db")), &PlacementPolicy::default());
        assert_eq!(t.chosen.as_deref(), Some("hv2"));
        assert!(matches!(verdict(&t, "hv1"), Verdict::Rejected { reason } if reason.contains("anti-affinity")));
    }

    #[test]
    fn avoided_and_refusing_hosts_are_rejected_with_their_reason() {
        let mut down = slot("hv1", 8, 8192, 0, 0);
        down.accepts = Err("host is Down".into());
        let cur = slot("hv2", 8, 8192, 0, 0);
        let mut r = req("web", 1, 512, None);
        let avoid = [("hv2".to_string(), "the VM just failed here".to_string())];
        r.avoid = &avoid;
        let t = place(&[down, cur], &r, &PlacementPolicy::default());
        assert_eq!(t.chosen, None);
        assert!(matches!(verdict(&t, "hv1"), Verdict::Rejected { reason } if reason == "host is Down"));
        assert!(matches!(verdict(&t, "hv2"), Verdict::Rejected { reason } if reason.contains("just failed")));
    }

    #[test]
    fn a_host_that_cannot_reach_the_disks_is_refused() {
        let mut a = slot("hv1", 8, 8192, 0, 0);
        a.volumes = Some(Arc::new(BTreeSet::from(["/nfs/web1.qcow2".to_string()])));
        let mut b = slot("hv2", 8, 8192, 0, 0);
        b.volumes = Some(Arc::new(BTreeSet::from(["/local/other.qcow2".to_string()])));
        let disks = vec!["/nfs/web1.qcow2".to_string()];
        let mut r = req("web1", 1, 512, None);
        r.disks = &disks;
        let t = place(&[a.clone(), b.clone()], &r, &PlacementPolicy::default());
        assert_eq!(t.chosen.as_deref(), Some("hv1"));
        assert!(
            matches!(verdict(&t, "hv2"), Verdict::Rejected { reason } if reason == "disk /nfs/web1.qcow2 is on no storage pool of this host")
        );
        assert!(!t.blocked_by_storage());
        let mut down = a;
        down.accepts = Err("host is Fenced".into());
        let t = place(&[down, b], &r, &PlacementPolicy::default());
        assert!(t.blocked_by_storage(), "{t:?}");
    }

    #[test]
    fn ties_go_to_the_first_host_by_name() {
        let slots = vec![slot("hv2", 8, 8192, 0, 0), slot("hv1", 8, 8192, 0, 0)];
        let t = place(&slots, &req("x", 1, 512, None), &PlacementPolicy::default());
        assert_eq!(t.chosen.as_deref(), Some("hv1"));
    }
}
