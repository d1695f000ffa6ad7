//! The demo cluster in `assets/demo/` is consistent and survives any one host failure: every
//! host file opens on libvirt's test driver, `cluster.toml` names exactly those hosts and VMs, and
//! if any one host dies its protected VMs can be placed on the others (real placement code,
//! anti-affinity included).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use threerc::backend::libvirt::LibvirtHost;
use threerc::core::placement::{place, Request, Slot};
use threerc::core::{DomState, HostProbe, PlacementPolicy};
use threerc::hv::Domains;

fn demo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo")
}

struct Vm {
    name: String,
    priority: i64,
    group: Option<String>,
}

struct Demo {
    /// Host name -> probe, in file order.
    hosts: Vec<(String, HostProbe)>,
    vms: Vec<Vm>,
    placement: PlacementPolicy,
}

fn load() -> Demo {
    let dir = demo_dir();
    let text = match std::fs::read_to_string(dir.join("cluster.toml")) {
        Ok(t) => t,
        Err(e) => panic!("cannot read cluster.toml: {e}"),
    };
    let cfg: toml::Value = match toml::from_str(&text) {
        Ok(v) => v,
        Err(e) => panic!("cluster.toml is not valid TOML: {e}"),
    };
    let dir_str = dir.display().to_string();
    let mut hosts = Vec::new();
    for h in cfg.get("host").and_then(|v| v.as_array()).into_iter().flatten() {
        let name = h.get("name").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let uri = h.get("uri").and_then(|v| v.as_str()).unwrap_or_default();
        assert_eq!(
            h.get("fence").and_then(|f| f.get("agent")).and_then(|a| a.as_str()),
            Some("demo"),
            "{name} has no demo fence agent"
        );
        let uri = uri.replace("{config_dir}", &dir_str);
        let probe = LibvirtHost::new(uri.clone()).probe();
        match probe {
            Ok(p) => hosts.push((name, p)),
            Err(e) => panic!("{uri}: {e}"),
        }
    }
    let vms = cfg
        .get("vm")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .map(|v| Vm {
            name: v.get("name").and_then(|n| n.as_str()).unwrap_or_default().to_string(),
            priority: v.get("priority").and_then(|p| p.as_integer()).unwrap_or(0),
            group: v.get("anti_affinity").and_then(|g| g.as_str()).map(str::to_string),
        })
        .collect();
    let p = cfg.get("placement");
    let placement = PlacementPolicy {
        cpu_overcommit: p.and_then(|p| p.get("cpu_overcommit")).and_then(|v| v.as_float()).unwrap_or(4.0),
        mem_overcommit: p.and_then(|p| p.get("mem_overcommit")).and_then(|v| v.as_float()).unwrap_or(1.0),
        ..Default::default()
    };
    Demo { hosts, vms, placement }
}

/// Where each domain is defined, and its observation.
fn domains(d: &Demo) -> BTreeMap<String, (String, threerc::core::DomainObs)> {
    let mut out = BTreeMap::new();
    for (host, p) in &d.hosts {
        for dom in &p.domains {
            let prev = out.insert(dom.name.clone(), (host.clone(), dom.clone()));
            assert!(prev.is_none(), "{} is defined on two hosts", dom.name);
        }
    }
    out
}

#[test]
fn four_hosts_of_different_sizes_and_ten_domains() {
    let d = load();
    let names: Vec<&str> = d.hosts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["hv1", "hv2", "hv3", "hv4"]);
    let sizes: BTreeSet<(u32, u64)> = d.hosts.iter().map(|(_, p)| (p.capacity.cpus, p.capacity.memory_kib)).collect();
    assert_eq!(sizes.len(), 4, "hosts should differ in size");
    for (name, p) in &d.hosts {
        assert!((8..=16).contains(&p.capacity.cpus), "{name}: {} CPUs", p.capacity.cpus);
        let gib = p.capacity.memory_kib / (1024 * 1024);
        assert!((16..=32).contains(&gib), "{name}: {gib} GiB");
    }
    let doms = domains(&d);
    let expected = ["build1", "cache1", "ci-runner1", "db1", "db2", "mail1", "monitor1", "web1", "web2", "web3"];
    assert_eq!(doms.keys().map(String::as_str).collect::<Vec<_>>(), expected);
}

#[test]
fn protected_vms_run_and_the_ci_runner_is_off_and_unprotected() {
    let d = load();
    let doms = domains(&d);
    assert_eq!(d.vms.len(), 9);
    for vm in &d.vms {
        match doms.get(&vm.name) {
            Some((_, obs)) => assert_eq!(obs.state, DomState::Running, "{} should start running", vm.name),
            None => panic!("protected VM {} is not defined on any host", vm.name),
        }
    }
    assert!(d.vms.iter().all(|v| v.name != "ci-runner1"));
    assert_eq!(doms.get("ci-runner1").map(|(_, o)| o.state), Some(DomState::ShutOff));
    // The README says so, in these words.
    let readme = std::fs::read_to_string(demo_dir().join("../../README.md")).unwrap();
    let words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven"];
    let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    for said in
        [format!("holding {} VMs", words[doms.len()]), format!("{} of them protected by 3RC", words[d.vms.len()])]
    {
        assert!(readme.contains(&said), "README.md does not say {said:?}");
    }
    // The databases come first when capacity is short.
    let top = d.vms.iter().map(|v| v.priority).max();
    for db in ["db1", "db2"] {
        assert_eq!(d.vms.iter().find(|v| v.name == db).map(|v| v.priority), top);
    }
}

#[test]
fn anti_affinity_groups_start_on_distinct_hosts() {
    let d = load();
    let doms = domains(&d);
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for vm in &d.vms {
        if let (Some(g), Some((host, _))) = (&vm.group, doms.get(&vm.name)) {
            assert!(seen.insert((g.clone(), host.clone())), "group {g} twice on {host}");
        }
    }
    let groups: Vec<_> = d.vms.iter().filter_map(|v| v.group.as_deref()).collect();
    assert_eq!(groups.iter().filter(|g| **g == "web").count(), 3);
    assert_eq!(groups.iter().filter(|g| **g == "db").count(), 2);
}

#[test]
fn every_protected_vm_fits_elsewhere_if_any_one_host_dies() {
    let d = load();
    let doms = domains(&d);
    let group_of: BTreeMap<&str, &str> =
        d.vms.iter().filter_map(|v| v.group.as_deref().map(|g| (v.name.as_str(), g))).collect();
    for (dead, _) in &d.hosts {
        // Survivors with what already runs on them.
        let mut slots: Vec<Slot> = d
            .hosts
            .iter()
            .filter(|(h, _)| h != dead)
            .map(|(h, p)| {
                let active: Vec<_> = p.domains.iter().filter(|o| o.state.is_active()).collect();
                Slot {
                    host: h.clone(),
                    accepts: Ok(()),
                    capacity: Some(p.capacity),
                    used_vcpus: active.iter().map(|o| o.vcpus).sum(),
                    used_memory_kib: active.iter().map(|o| o.memory_kib).sum(),
                    groups: active
                        .iter()
                        .filter_map(|o| group_of.get(o.name.as_str()))
                        .map(|g| g.to_string())
                        .collect(),
                    volumes: None,
                }
            })
            .collect();
        let mut victims: Vec<&Vm> =
            d.vms.iter().filter(|v| doms.get(&v.name).is_some_and(|(h, _)| h == dead)).collect();
        victims.sort_by_key(|v| std::cmp::Reverse(v.priority));
        for vm in victims {
            let Some((_, obs)) = doms.get(&vm.name) else {
                continue;
            };
            let req = Request {
                vm: &vm.name,
                vcpus: obs.vcpus,
                memory_kib: obs.memory_kib,
                anti_affinity: vm.group.as_deref(),
                avoid: &[],
                disks: &[],
                hosts: &[],
                prefer: &[],
            };
            let trace = place(&slots, &req, &d.placement);
            let Some(chosen) = trace.chosen.clone() else {
                panic!("{dead} dies: {} does not fit: {}", vm.name, trace.summary());
            };
            if let Some(s) = slots.iter_mut().find(|s| s.host == chosen) {
                s.used_vcpus += obs.vcpus;
                s.used_memory_kib += obs.memory_kib;
                if let Some(g) = &vm.group {
                    s.groups.insert(g.clone());
                }
            }
        }
    }
}
