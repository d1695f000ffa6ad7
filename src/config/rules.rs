//! Host rules of a `[[vm]]` (`hosts`, `prefer`), checked at load: every host a `[[host]]`, no
//! tier empty, no host in two tiers, and no rule that contradicts another (each error names
//! both).

use super::{raw, ConfigError, Locator};
use crate::core::VmSpec;
use std::collections::BTreeSet;

/// The VMs of an anti-affinity group never share a host: those with `hosts` rules must have
/// as many hosts between them as they are, or the group and the rules contradict each other.
pub(super) fn rules_fit_groups(vms: &[VmSpec], raw: &raw::RawConfig, at: &Locator) -> Result<(), ConfigError> {
    let mut groups: std::collections::BTreeMap<&str, Vec<&VmSpec>> = Default::default();
    for v in vms.iter().filter(|v| !v.hosts.is_empty()) {
        if let Some(g) = &v.anti_affinity {
            groups.entry(g.as_str()).or_default().push(v);
        }
    }
    for (group, members) in groups {
        let room: BTreeSet<&String> = members.iter().flat_map(|v| &v.hosts).collect();
        if room.len() < members.len() {
            let names: Vec<&str> = members.iter().map(|v| v.name.as_str()).collect();
            let last = raw.vms.iter().rev().find(|r| names.contains(&r.name.get_ref().as_str()));
            return Err(at.err(
                last.map(|r| r.name.span()),
                format!(
                    "VMs {}: anti_affinity group {group} keeps them on different hosts, but their hosts rules \
                     allow only {} between them ({})",
                    names.join(", "),
                    room.len(),
                    room.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// A VM's host rules (`hosts`, `prefer`), checked: every host a `[[host]]`, no tier empty, no
/// host in two tiers, and no rule that contradicts another (each error names both).
pub(super) fn host_rules(
    name: &str,
    v: &raw::RawVm,
    hosts: &BTreeSet<String>,
    at: &Locator,
) -> Result<(Vec<String>, Vec<Vec<String>>), ConfigError> {
    let must = v.hosts.as_ref().map(|h| h.get_ref().clone()).unwrap_or_default();
    if let Some(h) = &v.hosts {
        if must.is_empty() {
            return Err(at.err(Some(h.span()), format!("VM {name}: hosts = [] leaves it nowhere to run")));
        }
        if let Some(bad) = must.iter().find(|x| !hosts.contains(*x)) {
            return Err(at.err(Some(h.span()), format!("VM {name}: hosts names {bad}, which is not a [[host]]")));
        }
    }
    if let (Some(p), Some(h)) = (&v.preferred_host, &v.hosts) {
        if !must.contains(p.get_ref()) {
            return Err(at.err(
                Some(p.span()),
                format!(
                    "VM {name}: preferred_host {} contradicts hosts = [{}] (it must run on those)",
                    p.get_ref(),
                    h.get_ref().join(", ")
                ),
            ));
        }
    }
    let prefer = v.prefer.as_ref().map(|p| p.get_ref().clone()).unwrap_or_default();
    if let Some(p) = &v.prefer {
        let mut seen = std::collections::BTreeSet::new();
        for (i, tier) in prefer.iter().enumerate() {
            if tier.is_empty() {
                return Err(at.err(Some(p.span()), format!("VM {name}: prefer tier {} is empty", i + 1)));
            }
            for x in tier {
                if !hosts.contains(x) {
                    return Err(at.err(Some(p.span()), format!("VM {name}: prefer names {x}, which is not a [[host]]")));
                }
                if !seen.insert(x.clone()) {
                    return Err(at.err(Some(p.span()), format!("VM {name}: prefer names {x} in two tiers")));
                }
                if !must.is_empty() && !must.contains(x) {
                    return Err(at.err(
                        Some(p.span()),
                        format!(
                            "VM {name}: prefer names {x}, which contradicts hosts = [{}] (it must run on those)",
                            must.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    Ok((must, prefer))
}
