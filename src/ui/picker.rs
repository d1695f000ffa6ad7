//! The live-migration target picker: every host with its free capacity and, for the hosts that
//! cannot take the VM, why not. Only an allowed host can be picked; the engine still has the
//! last word (its refusal comes back as an error flash).

use crate::core::placement::Verdict;
use crate::core::{ClusterView, HostState};
use crossterm::event::{KeyCode, KeyEvent};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    /// Free vCPUs and memory (KiB) before the move; `None` when the capacity is unknown.
    pub free_vcpus: Option<i64>,
    pub free_memory_kib: Option<i64>,
    /// Why this host cannot take the VM; `None` when it can.
    pub refusal: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picker {
    pub vm: String,
    pub targets: Vec<Target>,
    /// The highlighted host, by name: a refresh never moves it to another host.
    pub chosen: Option<String>,
}

/// What a key did to the picker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pick {
    Stay,
    Cancel,
    /// Enter on a host that cannot take the VM: why.
    Refused(String),
    Picked {
        vm: String,
        to: String,
    },
}

fn gib(kib: u64) -> String {
    format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0))
}

/// Every host of the view as a target for `vm`.
pub fn targets(view: &ClusterView, vm: &str) -> Vec<Target> {
    let Some(v) = view.vm(vm) else { return vec![] };
    view.hosts
        .iter()
        .map(|h| {
            let free_vcpus = h.capacity.map(|c| i64::from(c.cpus) - i64::from(h.used_vcpus));
            let free_memory_kib = h.capacity.map(|c| c.memory_kib as i64 - h.used_memory_kib as i64);
            let traced = v.placement.as_ref().and_then(|p| {
                p.candidates.iter().find(|c| c.host == h.name).and_then(|c| match &c.verdict {
                    Verdict::Rejected { reason } => Some(reason.clone()),
                    _ => None,
                })
            });
            let group_there = v.anti_affinity.as_ref().filter(|g| {
                view.vms.iter().any(|o| {
                    o.name != v.name
                        && o.host.as_deref() == Some(h.name.as_str())
                        && o.anti_affinity.as_ref() == Some(*g)
                })
            });
            let refusal = if v.host.as_deref() == Some(h.name.as_str()) {
                Some("the VM runs here".to_string())
            } else if h.state != HostState::Online {
                Some(format!("host is {}", h.state.label()))
            } else if let Some(g) = group_there {
                Some(format!("anti-affinity group {g} already has a VM here"))
            } else if let Some(free) = free_memory_kib {
                if free < v.memory_kib as i64 {
                    Some(format!("needs {}, {} free", gib(v.memory_kib), gib(free.max(0) as u64)))
                } else {
                    traced
                }
            } else {
                Some("capacity unknown (never probed)".to_string())
            };
            Target { host: h.name.clone(), free_vcpus, free_memory_kib, refusal }
        })
        .collect()
}

impl Picker {
    pub fn new(view: &ClusterView, vm: &str) -> Picker {
        let targets = targets(view, vm);
        let chosen = targets.iter().find(|t| t.refusal.is_none()).or(targets.first()).map(|t| t.host.clone());
        Picker { vm: vm.to_string(), targets, chosen }
    }

    /// A new snapshot: capacities and refusals change, the VM and the highlighted host do not.
    pub fn refresh(&mut self, view: &ClusterView) {
        self.targets = targets(view, &self.vm);
    }

    pub fn index(&self) -> Option<usize> {
        self.chosen.as_ref().and_then(|c| self.targets.iter().position(|t| t.host == *c))
    }

    fn step(&mut self, delta: isize) {
        if self.targets.is_empty() {
            return;
        }
        let i = self.index().unwrap_or(0).saturating_add_signed(delta).min(self.targets.len() - 1);
        self.chosen = Some(self.targets[i].host.clone());
    }

    pub fn key(&mut self, key: &KeyEvent) -> Pick {
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') => Pick::Cancel,
            KeyCode::Up | KeyCode::Char('k') => {
                self.step(-1);
                Pick::Stay
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.step(1);
                Pick::Stay
            }
            KeyCode::Enter => match self.index().map(|i| &self.targets[i]) {
                None => Pick::Cancel,
                Some(Target { host, refusal: Some(why), .. }) => Pick::Refused(format!("{host}: {why}")),
                Some(t) => Pick::Picked { vm: self.vm.clone(), to: t.host.clone() },
            },
            _ => Pick::Stay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::fixture::{cluster, keys};

    #[test]
    fn hosts_that_cannot_take_the_vm_say_why() {
        let t = targets(&cluster(), "web1");
        let why = |h: &str| t.iter().find(|x| x.host == h).unwrap().refusal.clone();
        assert_eq!(why("hv1").as_deref(), Some("the VM runs here"));
        assert_eq!(why("hv2").as_deref(), Some("host is Down"));
        assert_eq!(why("hv3").as_deref(), Some("host is Suspect"));
        let hv1 = t.iter().find(|x| x.host == "hv1").unwrap();
        assert_eq!((hv1.free_vcpus, hv1.free_memory_kib), (Some(20), Some(80 * 1024 * 1024)));
    }

    #[test]
    fn a_host_holding_a_vm_of_the_same_anti_affinity_group_is_refused() {
        let mut view = cluster();
        view.hosts[2].state = HostState::Online;
        view.hosts[2].capacity = view.hosts[0].capacity;
        view.vms[0].anti_affinity = Some("web".into());
        view.vms[1].anti_affinity = Some("web".into()); // web2 on hv3
        let t = targets(&view, "web1");
        let hv3 = t.iter().find(|x| x.host == "hv3").unwrap();
        assert_eq!(hv3.refusal.as_deref(), Some("anti-affinity group web already has a VM here"));
    }

    #[test]
    fn enter_on_a_refused_host_says_why_and_picks_nothing() {
        let mut p = Picker::new(&cluster(), "web1");
        let mut last = Pick::Stay;
        for k in keys("j<enter>") {
            last = p.key(&k);
        }
        assert_eq!(last, Pick::Refused("hv2: host is Down".into()));
    }

    #[test]
    fn the_highlight_follows_the_host_name_across_refreshes() {
        let mut view = cluster();
        view.hosts[2].state = HostState::Online;
        view.hosts[2].capacity = view.hosts[0].capacity;
        let mut p = Picker::new(&view, "web1");
        assert_eq!(p.chosen.as_deref(), Some("hv3"), "starts on the first allowed host");
        view.hosts.reverse();
        p.refresh(&view);
        assert_eq!(p.chosen.as_deref(), Some("hv3"));
        assert_eq!(p.key(&keys("<enter>")[0]), Pick::Picked { vm: "web1".into(), to: "hv3".into() });
    }
}
