//! A small, deterministic, in-memory cluster that drives the real engine.
//!
//! Each host has a power switch, a network link, a size and a set of defined domains. One call
//! to [`MiniCluster::tick`] advances a virtual clock by one second, builds a `HostObservation`
//! per host, runs one engine cycle, carries out every action the engine emits against the
//! in-memory hosts and feeds each outcome back, until nothing is left to do.
//!
//! The harness enforces the first rule of HA on every action it applies: a start, a relocation
//! or a migration never makes a VM active while another powered host still runs it. Breaking
//! it panics the test. On any panic the engine's whole event log is printed, so a failing test
//! reads like the console's log.

// Shared by several test binaries, each of which uses only part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;
use threerc::core::{
    Action, ActionKind, Capacity, ClusterSpec, ClusterView, Command, DomState, DomainObs, Engine, Event,
    HostObservation, HostPolicy, HostProbe, HostSpec, HostState, HostView, PlacementPolicy, ProbeError, Time, VmSpec,
    VmState, VmView,
};

pub const MIB: u64 = 1024;

/// One domain defined on a host.
#[derive(Clone, Debug, PartialEq)]
pub struct Dom {
    pub state: DomState,
    pub vcpus: u32,
    pub memory_kib: u64,
}

/// One physical host of the mini cluster.
#[derive(Clone, Debug)]
pub struct Host {
    pub powered: bool,
    /// The supervisor's connection works. A host can be powered and unreachable: its VMs keep
    /// running (the split-brain trap).
    pub reachable: bool,
    pub cpus: u32,
    pub memory_kib: u64,
    pub fence_agent: Option<String>,
    pub domains: BTreeMap<String, Dom>,
    /// Every start on this host fails.
    pub fail_starts: bool,
    /// How many of the next fence attempts on this host fail.
    pub fence_failures: u32,
    /// Its domain listing is held up while its daemon answers light calls: every probe says
    /// `Busy` (a host worker's verdict on a probe that timed out on a live daemon).
    pub held_up: bool,
}

impl Host {
    fn answers(&self) -> bool {
        self.powered && self.reachable
    }
}

/// Builds the initial cluster; [`Builder::boot`] runs the first cycle.
pub struct Builder {
    hosts: BTreeMap<String, Host>,
    vms: Vec<VmSpec>,
    host_policy: HostPolicy,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    pub fn new() -> Builder {
        Builder { hosts: BTreeMap::new(), vms: Vec::new(), host_policy: HostPolicy::default() }
    }

    /// A powered, reachable host with an `ipmi` fence agent.
    pub fn host(self, name: &str, cpus: u32, memory_mib: u64) -> Builder {
        self.host_with_agent(name, cpus, memory_mib, Some("ipmi"))
    }

    /// A host with no fence agent: only a person can confirm it is off.
    pub fn host_without_fence(self, name: &str, cpus: u32, memory_mib: u64) -> Builder {
        self.host_with_agent(name, cpus, memory_mib, None)
    }

    fn host_with_agent(mut self, name: &str, cpus: u32, memory_mib: u64, agent: Option<&str>) -> Builder {
        self.hosts.insert(
            name.into(),
            Host {
                powered: true,
                reachable: true,
                cpus,
                memory_kib: memory_mib * MIB,
                fence_agent: agent.map(String::from),
                domains: BTreeMap::new(),
                fail_starts: false,
                fence_failures: 0,
                held_up: false,
            },
        );
        self
    }

    /// A protected VM running on `host`, with the default policy.
    pub fn vm(self, name: &str, host: &str, vcpus: u32, memory_mib: u64) -> Builder {
        self.vm_with(name, host, vcpus, memory_mib, |_| {})
    }

    /// A protected VM running on `host`; `tune` adjusts its spec (priority, group, policy).
    pub fn vm_with(
        mut self,
        name: &str,
        host: &str,
        vcpus: u32,
        memory_mib: u64,
        tune: impl FnOnce(&mut VmSpec),
    ) -> Builder {
        let mut spec =
            VmSpec { preferred_host: Some(host.into()), origin: threerc::core::Origin::Config, ..VmSpec::named(name) };
        tune(&mut spec);
        self.vms.push(spec);
        self.domain(host, name, vcpus, memory_mib, DomState::Running)
    }

    /// A domain HA does not protect (it still takes room on its host).
    pub fn unprotected(self, name: &str, host: &str, vcpus: u32, memory_mib: u64) -> Builder {
        self.domain(host, name, vcpus, memory_mib, DomState::Running)
    }

    fn domain(mut self, host: &str, name: &str, vcpus: u32, memory_mib: u64, state: DomState) -> Builder {
        self.hosts
            .get_mut(host)
            .unwrap_or_else(|| panic!("declare host {host} before its domains"))
            .domains
            .insert(name.into(), Dom { state, vcpus, memory_kib: memory_mib * MIB });
        self
    }

    pub fn host_policy(mut self, tune: impl FnOnce(&mut HostPolicy)) -> Builder {
        tune(&mut self.host_policy);
        self
    }

    /// Create the engine at time 0 and run the first cycle (at 1 s).
    pub fn boot(self) -> MiniCluster {
        let spec = ClusterSpec {
            hosts: self
                .hosts
                .iter()
                .map(|(name, h)| HostSpec {
                    name: name.clone(),
                    uri: format!("mini://{name}"),
                    fence_agent: h.fence_agent.clone(),
                    soft_fence: false,
                })
                .collect(),
            vms: self.vms.clone(),
            // One quorum witness that answers unless a test takes it down: the votes of a
            // two-host cluster stay a majority when one host is lost, as with a gateway.
            witnesses: vec![WITNESS.to_string()],
            host_policy: self.host_policy,
            placement: PlacementPolicy::default(),
        };
        let inventory = self
            .hosts
            .values()
            .flat_map(|h| h.domains.iter())
            .map(|(n, d)| (n.clone(), (d.vcpus, d.memory_kib)))
            .collect();
        let mut c = MiniCluster {
            engine: Engine::new(spec, Time::ZERO),
            hosts: self.hosts,
            inventory,
            now: Time::ZERO,
            events: Vec::new(),
            decided: Vec::new(),
            applied: Vec::new(),
            held: Vec::new(),
            hold: None,
            flaky: BTreeSet::new(),
            witness_down: false,
            no_live_migration: false,
        };
        c.tick();
        c
    }
}

/// Which emitted actions the harness keeps back instead of carrying out at once.
pub type HoldRule = fn(&ActionKind) -> bool;

pub struct MiniCluster {
    pub engine: Engine,
    pub hosts: BTreeMap<String, Host>,
    /// Each VM's size, as the inventory of domain XML would have it (for relocations).
    inventory: BTreeMap<String, (u32, u64)>,
    pub now: Time,
    /// Every event the engine produced, in order.
    pub events: Vec<Event>,
    /// Every action the engine decided, with when.
    pub decided: Vec<(Time, Action)>,
    /// Every action carried out, with its outcome.
    pub applied: Vec<(Time, Action, threerc::core::Outcome)>,
    /// Actions kept back by `hold`, waiting for [`MiniCluster::release`].
    pub held: Vec<Action>,
    pub hold: Option<HoldRule>,
    /// VMs that crash again right after every start.
    flaky: BTreeSet<String>,
    /// The quorum witness does not answer.
    pub witness_down: bool,
    /// The hosts cannot migrate live (as libvirt's test driver): a migration changes nothing
    /// and answers `Outcome::Unsupported`.
    pub no_live_migration: bool,
}

/// The name of the mini cluster's quorum witness.
pub const WITNESS: &str = "gw";

impl Drop for MiniCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- engine events ({} at {}) ----", self.events.len(), self.now);
            for e in &self.events {
                eprintln!("{e}");
            }
            eprintln!("---- held actions ----");
            for a in &self.held {
                eprintln!("#{} {}", a.id, a.kind);
            }
            eprintln!("---- cluster ----");
            for (name, h) in &self.hosts {
                eprintln!(
                    "{name}: powered={} reachable={} domains={:?}",
                    h.powered,
                    h.reachable,
                    h.domains.iter().map(|(n, d)| format!("{n}:{}", d.state.label())).collect::<Vec<_>>()
                );
            }
        }
    }
}

impl MiniCluster {
    // ---- driving ----

    /// One supervision cycle, one second after the previous one.
    pub fn tick(&mut self) {
        self.now = self.now.plus(Duration::from_secs(1));
        for name in self.flaky.clone() {
            for h in self.hosts.values_mut() {
                if let Some(d) = h.domains.get_mut(&name) {
                    if d.state.is_active() {
                        d.state = DomState::Crashed;
                    }
                }
            }
        }
        let checks = vec![(WITNESS.to_string(), if self.witness_down { Err("no answer".to_string()) } else { Ok(()) })];
        let out = self.engine.observe_witnesses(self.now, &checks);
        self.events.extend(out.events);
        let obs = self.observations();
        let out = self.engine.observe(self.now, &obs);
        self.events.extend(out.events);
        self.apply(out.actions);
    }

    pub fn run(&mut self, cycles: u32) {
        for _ in 0..cycles {
            self.tick();
        }
    }

    /// Tick until `done` holds; panics after `max` cycles.
    pub fn run_until(&mut self, max: u32, what: &str, done: impl Fn(&MiniCluster) -> bool) {
        for _ in 0..max {
            if done(self) {
                return;
            }
            self.tick();
        }
        assert!(done(self), "not reached after {max} cycles: {what}");
    }

    /// Tick `cycles` times and call `check` after each cycle.
    pub fn run_checked(&mut self, cycles: u32, check: impl Fn(&MiniCluster)) {
        for _ in 0..cycles {
            self.tick();
            check(self);
        }
    }

    /// An operator command, as the console sends it; its actions are carried out at once.
    pub fn command(&mut self, origin: &str, cmd: Command) -> Result<(), String> {
        let out = self.engine.command(self.now, origin, &cmd)?;
        self.events.extend(out.events);
        self.apply(out.actions);
        Ok(())
    }

    /// Carry out the held actions now (the rule stays in force for later ones).
    pub fn release(&mut self) {
        let held = std::mem::take(&mut self.held);
        let mut follow = Vec::new();
        for a in held {
            follow.extend(self.carry_out(a));
        }
        self.apply(follow);
    }

    /// Carry out the held actions on the hosts even if they no longer answer (the command
    /// got there before the link died), but report a timeout: the answer was lost.
    pub fn release_answers_lost(&mut self) {
        let held = std::mem::take(&mut self.held);
        let mut follow = Vec::new();
        for a in held {
            let saved: Vec<(String, bool)> = self.hosts.iter().map(|(n, h)| (n.clone(), h.reachable)).collect();
            for h in self.hosts.values_mut() {
                h.reachable = true;
            }
            let done = self.execute(&a.kind);
            for (n, r) in saved {
                self.host_mut(&n).reachable = r;
            }
            let outcome = threerc::core::Outcome::Failed(format!(
                "timed out waiting for the host (the action itself ended {done:?})"
            ));
            self.applied.push((self.now, a.clone(), outcome.clone()));
            let out = self.engine.outcome(self.now, a.id, outcome);
            self.events.extend(out.events);
            follow.extend(out.actions);
        }
        self.apply(follow);
    }

    fn observations(&self) -> Vec<HostObservation> {
        self.hosts
            .iter()
            .map(|(name, h)| HostObservation {
                host: name.clone(),
                result: if !h.powered {
                    Err(ProbeError::no_answer("no route to host"))
                } else if !h.reachable {
                    Err(ProbeError::no_answer("connection timed out"))
                } else if h.held_up {
                    Err(ProbeError::busy("busy: the probe has not returned; the daemon answers"))
                } else {
                    Ok(HostProbe {
                        capacity: Capacity { cpus: h.cpus, memory_kib: h.memory_kib },
                        domains: h
                            .domains
                            .iter()
                            .map(|(n, d)| DomainObs {
                                name: n.clone(),
                                state: d.state,
                                vcpus: d.vcpus,
                                memory_kib: d.memory_kib,
                            })
                            .collect(),
                    })
                },
            })
            .collect()
    }

    fn apply(&mut self, actions: Vec<Action>) {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(a) = queue.pop_front() {
            self.decided.push((self.now, a.clone()));
            if self.hold.is_some_and(|rule| rule(&a.kind)) {
                self.held.push(a);
                continue;
            }
            queue.extend(self.carry_out(a));
        }
    }

    /// Execute one action, feed its outcome back, return the follow-up actions.
    fn carry_out(&mut self, a: Action) -> Vec<Action> {
        let outcome = self.execute(&a.kind);
        self.applied.push((self.now, a.clone(), outcome.clone()));
        let out = self.engine.outcome(self.now, a.id, outcome);
        self.events.extend(out.events);
        out.actions
    }

    fn execute(&mut self, kind: &ActionKind) -> threerc::core::Outcome {
        use threerc::core::Outcome::{Done, Failed};
        match kind {
            ActionKind::Start { vm, host } => self.start_on(vm, host),
            ActionKind::Restart { vm, host } => {
                if let Err(e) = self.reach(host) {
                    return Failed(e);
                }
                if let Some(d) = self.dom_mut(host, vm) {
                    d.state = DomState::ShutOff;
                }
                self.start_on(vm, host)
            }
            ActionKind::Relocate { vm, from, to } => {
                if let Some(from) = from {
                    if let Err(e) = self.reach(from) {
                        return Failed(e);
                    }
                    self.host_mut(from).domains.remove(vm);
                }
                if let Err(e) = self.reach(to) {
                    return Failed(e);
                }
                let (vcpus, memory_kib) = self.inventory[vm];
                self.host_mut(to).domains.entry(vm.clone()).or_insert(Dom {
                    state: DomState::ShutOff,
                    vcpus,
                    memory_kib,
                });
                self.start_on(vm, to)
            }
            ActionKind::Migrate { vm, from, to } => {
                if let Err(e) = self.reach(from).and_then(|_| self.reach(to)) {
                    return Failed(e);
                }
                if self.no_live_migration {
                    return threerc::core::Outcome::Unsupported("this driver cannot migrate".into());
                }
                let Some(dom) = self.host_mut(from).domains.remove(vm) else {
                    return Failed(format!("no domain named {vm} on {from}"));
                };
                if !dom.state.is_active() {
                    self.host_mut(from).domains.insert(vm.clone(), dom);
                    return Failed(format!("{vm} is not running on {from}"));
                }
                if self.hosts[to].fail_starts {
                    self.host_mut(from).domains.insert(vm.clone(), dom);
                    return Failed(format!("qemu on {to} refused to start {vm}"));
                }
                self.assert_not_running_elsewhere(vm, to, "migrate");
                self.host_mut(to).domains.insert(vm.clone(), dom);
                Done
            }
            ActionKind::Stop { vm, host } | ActionKind::Destroy { vm, host, .. } => {
                if let Err(e) = self.reach(host) {
                    return Failed(e);
                }
                let undefine = matches!(kind, ActionKind::Destroy { undefine: true, .. });
                if undefine {
                    self.host_mut(host).domains.remove(vm);
                } else if let Some(d) = self.dom_mut(host, vm) {
                    d.state = DomState::ShutOff;
                }
                Done
            }
            ActionKind::Fence { host } => {
                let h = self.host_mut(host);
                if h.fence_failures > 0 {
                    h.fence_failures -= 1;
                    return Failed("fence agent ipmi: timed out talking to the BMC".into());
                }
                h.powered = false;
                for d in h.domains.values_mut() {
                    d.state = DomState::ShutOff;
                }
                Done
            }
            ActionKind::SoftFence { .. } => Failed("no soft fence in the mini cluster".into()),
            ActionKind::Resume { vm, host } => {
                if let Err(e) = self.reach(host) {
                    return Failed(e);
                }
                match self.dom_mut(host, vm) {
                    Some(d) if matches!(d.state, DomState::Paused | DomState::IoPaused) => {
                        d.state = DomState::Running;
                        Done
                    }
                    _ => Failed(format!("{vm} is not paused on {host}")),
                }
            }
            ActionKind::Reinstall { vm, host } => {
                // A fresh disk and definition: the domain is (re)defined on the host and started.
                if let Err(e) = self.reach(host) {
                    return Failed(e);
                }
                let size = self.hosts.values().find_map(|h| h.domains.get(vm)).map(|d| (d.vcpus, d.memory_kib));
                let Some((vcpus, memory_kib)) = size else {
                    return Failed(format!("no definition of {vm} to take its size from"));
                };
                let dom = Dom { state: DomState::ShutOff, vcpus, memory_kib };
                self.host_mut(host).domains.insert(vm.clone(), dom);
                self.start_on(vm, host)
            }
        }
    }

    fn start_on(&mut self, vm: &str, host: &str) -> threerc::core::Outcome {
        use threerc::core::Outcome::{Done, Failed};
        if let Err(e) = self.reach(host) {
            return Failed(e);
        }
        if self.dom_mut(host, vm).is_none() {
            return Failed(format!("no domain named {vm} on {host}"));
        }
        if self.hosts[host].fail_starts {
            return Failed(format!("qemu on {host} refused to start {vm}"));
        }
        self.assert_not_running_elsewhere(vm, host, "start");
        if let Some(d) = self.dom_mut(host, vm) {
            d.state = DomState::Running;
        }
        Done
    }

    /// The rule of HA: a VM never runs on two hosts. Checked on every start, relocation and
    /// migration the engine asks for.
    fn assert_not_running_elsewhere(&self, vm: &str, host: &str, what: &str) {
        let elsewhere: Vec<&String> = self
            .hosts
            .iter()
            .filter(|(n, h)| n.as_str() != host && h.powered && h.domains.get(vm).is_some_and(|d| d.state.is_active()))
            .map(|(n, _)| n)
            .collect();
        assert!(
            elsewhere.is_empty(),
            "SPLIT BRAIN at {}: {what} of {vm} on {host} while it still runs on {elsewhere:?}",
            self.now
        );
    }

    fn reach(&self, host: &str) -> Result<(), String> {
        if self.hosts[host].answers() {
            Ok(())
        } else {
            Err(format!("host unreachable: {host}"))
        }
    }

    fn host_mut(&mut self, host: &str) -> &mut Host {
        self.hosts.get_mut(host).unwrap_or_else(|| panic!("the engine named an unknown host {host}"))
    }

    fn dom_mut(&mut self, host: &str, vm: &str) -> Option<&mut Dom> {
        self.host_mut(host).domains.get_mut(vm)
    }

    // ---- faults ----

    /// The VM's process dies wherever it runs (the host stays fine).
    pub fn crash(&mut self, vm: &str) {
        for h in self.hosts.values_mut() {
            if let Some(d) = h.domains.get_mut(vm) {
                if d.state.is_active() {
                    d.state = DomState::Crashed;
                }
            }
        }
    }

    /// The VM comes back by itself on `host` (e.g. someone started it by hand).
    pub fn revive(&mut self, vm: &str, host: &str) {
        self.set_domain(host, vm, DomState::Running);
    }

    /// Force a domain's state on a host, defining it there if needed.
    pub fn set_domain(&mut self, host: &str, vm: &str, state: DomState) {
        let (vcpus, memory_kib) = self.inventory[vm];
        self.host_mut(host).domains.entry(vm.into()).or_insert(Dom { state, vcpus, memory_kib }).state = state;
    }

    /// The VM crashes right after every start, wherever it runs.
    pub fn make_flaky(&mut self, vm: &str) {
        self.flaky.insert(vm.into());
    }

    /// The network to the host is cut: probes fail, but its VMs keep running.
    pub fn cut(&mut self, host: &str) {
        self.host_mut(host).reachable = false;
    }

    pub fn reconnect(&mut self, host: &str) {
        self.host_mut(host).reachable = true;
    }

    /// Pull the plug: every domain on it stops (they stay defined).
    pub fn power_off(&mut self, host: &str) {
        let h = self.host_mut(host);
        h.powered = false;
        for d in h.domains.values_mut() {
            d.state = DomState::ShutOff;
        }
    }

    /// Power on and reconnect; domains come back shut off unless the test says otherwise.
    pub fn power_on(&mut self, host: &str) {
        let h = self.host_mut(host);
        h.powered = true;
        h.reachable = true;
    }

    pub fn fail_starts(&mut self, host: &str, fail: bool) {
        self.host_mut(host).fail_starts = fail;
    }

    pub fn fail_next_fences(&mut self, host: &str, count: u32) {
        self.host_mut(host).fence_failures = count;
    }

    // ---- looking ----

    pub fn snapshot(&self) -> ClusterView {
        self.engine.snapshot()
    }

    pub fn vm(&self, name: &str) -> VmView {
        self.snapshot().vm(name).cloned().unwrap_or_else(|| panic!("no VM {name} in the snapshot"))
    }

    pub fn host(&self, name: &str) -> HostView {
        self.snapshot().host(name).cloned().unwrap_or_else(|| panic!("no host {name} in the snapshot"))
    }

    pub fn vm_state(&self, name: &str) -> VmState {
        self.vm(name).state
    }

    pub fn vm_host(&self, name: &str) -> Option<String> {
        self.vm(name).host
    }

    pub fn host_state(&self, name: &str) -> HostState {
        self.host(name).state
    }

    /// Powered hosts where the VM is active, as the hardware has it (not the engine).
    pub fn running_on(&self, vm: &str) -> Vec<String> {
        self.hosts
            .iter()
            .filter(|(_, h)| h.powered && h.domains.get(vm).is_some_and(|d| d.state.is_active()))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// How many actions have been decided so far: a mark for [`MiniCluster::decided_since`].
    pub fn mark(&self) -> usize {
        self.decided.len()
    }

    pub fn decided_since(&self, mark: usize) -> Vec<ActionKind> {
        self.decided[mark..].iter().map(|(_, a)| a.kind.clone()).collect()
    }

    pub fn decided_kinds(&self) -> Vec<ActionKind> {
        self.decided_since(0)
    }

    /// Every event, as the log prints it.
    pub fn log(&self) -> Vec<String> {
        self.events.iter().map(|e| e.to_string()).collect()
    }

    /// The VM's states in order, from its transitions in the event log (first state included).
    pub fn vm_path(&self, vm: &str) -> Vec<VmState> {
        use threerc::core::{EventKind, Subject};
        let mut path = Vec::new();
        for e in &self.events {
            if let (Subject::Vm(v), EventKind::VmTransition { from, to }) = (&e.subject, &e.kind) {
                if v == vm {
                    if path.is_empty() {
                        path.push(*from);
                    }
                    path.push(*to);
                }
            }
        }
        path
    }

    /// The host's shown states in order, from the event log.
    pub fn host_path(&self, host: &str) -> Vec<HostState> {
        use threerc::core::{EventKind, Subject};
        let mut path = Vec::new();
        for e in &self.events {
            if let (Subject::Host(h), EventKind::HostTransition { from, to }) = (&e.subject, &e.kind) {
                if h == host {
                    if path.is_empty() {
                        path.push(*from);
                    }
                    path.push(*to);
                }
            }
        }
        path
    }
}

/// A reinstall spec: golden image `golden/base.qcow2`, the disk `vms/NAME.qcow2`.
pub fn reinstall_spec(vm: &str) -> std::sync::Arc<threerc::core::ReinstallSpec> {
    std::sync::Arc::new(threerc::core::ReinstallSpec {
        golden_pool: "golden".into(),
        golden_volume: "base.qcow2".into(),
        mode: threerc::core::DiskMode::Overlay,
        disk_pool: "vms".into(),
        disk_volume: format!("{vm}.qcow2"),
        template_path: format!("{vm}.xml"),
        template: String::new(),
        seed: None,
    })
}
