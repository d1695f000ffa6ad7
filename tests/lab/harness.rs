//! The lab harness shared by the lab tests and the lab benchmark: a lab that tears itself down,
//! and `3rc run --headless` inside the lab's client namespace, observed through its journal.
// Shared by several test binaries, each of which uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn lab_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab.sh")
}

/// How many labs the tests of one run keep up at once. Each lab runs real daemons, TCG guests
/// and a supervisor whose default probe timeout is 400 ms; all seven lab tests of a binary at
/// once on a 2-core machine starved the daemons for seconds (a source host's probe went
/// unanswered through a live migration and the host was fenced), which tests timing no user
/// machine has. Waiting for a slot costs wall time, not correctness.
const LAB_SLOTS: usize = 3;

/// A slot: an exclusive lock on one of `LAB_SLOTS` files in cargo's temporary folder for tests
/// (locks are per open file, so threads of one test binary exclude each other too). Released
/// when dropped, or when the process dies.
struct Slot {
    _lock: std::fs::File,
}

fn take_slot() -> Slot {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    loop {
        for i in 0..LAB_SLOTS {
            let f = std::fs::File::create(dir.join(format!("lab-slot-{i}"))).expect("lab slot file");
            if f.try_lock().is_ok() {
                return Slot { _lock: f };
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A lab that is torn down when dropped, whatever happened.
pub struct Lab {
    dir: tempfile::TempDir,
    hosts: usize,
    /// Dropped after `Drop::drop` took the lab down, so the next lab starts on a quiet machine.
    _slot: Slot,
}

impl Lab {
    pub fn up(hosts: usize, vms_per_host: usize) -> Lab {
        let slot = take_slot();
        let dir = tempfile::Builder::new().prefix("3rc-lab-").tempdir().expect("tempdir");
        let out = Command::new(lab_script())
            .args(["up", dir.path().to_str().unwrap(), &hosts.to_string(), &vms_per_host.to_string()])
            .output()
            .expect("run lab.sh");
        assert!(
            out.status.success(),
            "lab up failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Lab { dir, hosts, _slot: slot }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new(lab_script()).arg(args[0]).arg(self.path()).args(&args[1..]).output().expect("lab.sh");
        assert!(out.status.success(), "lab.sh {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Which hosts run each VM's qemu right now.
    pub fn truth(&self) -> BTreeMap<String, Vec<String>> {
        truth_of(self.path(), self.hosts)
    }

    /// Samples `truth` every 200 ms until the watch is stopped: every VM found running on two
    /// hosts at once, and every change of where the VMs run.
    pub fn watch(&self) -> Watch {
        let (dir, hosts) = (self.path().to_path_buf(), self.hosts);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut seen = Seen::default();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let t = truth_of(&dir, hosts);
                for (vm, on) in t.iter().filter(|(_, on)| on.len() > 1) {
                    // The hosts are read one after another (`on` is in that order): a VM that
                    // moved from an earlier one to a later one in between looks doubled. It
                    // is, if the earlier one still runs it now, after the later was seen with it.
                    if running_on(&dir, &on[0]).contains(vm) {
                        seen.doubles.push(format!("{vm} on {}", on.join(" and ")));
                    }
                }
                if seen.changes.last().map(|(_, last)| last) != Some(&t) {
                    seen.changes.push((now_secs(), t));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            seen
        });
        Watch { stop, thread: Some(thread) }
    }

    /// A 3RC config for the lab: hosts over TCP, the lab fence agent, every VM protected.
    pub fn config(&self, vms: &[String], extra_defaults: &str) -> PathBuf {
        self.config_with(vms, extra_defaults, |_| String::new())
    }

    /// The `[vm.reinstall]` lines for a lab VM: the lab's golden image in the shared pool, a
    /// template like the lab's own domains with the disk `shared/VM.qcow2`, and with `seed` a
    /// cloud-init seed on an IDE CD-ROM.
    pub fn reinstall_spec(&self, vm: &str, seed: bool) -> String {
        let dir = self.path().display().to_string();
        let template = format!(
            "<domain type='qemu'>\n  <memory unit='MiB'>64</memory>\n  <vcpu>1</vcpu>\n  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>\n  <on_crash>destroy</on_crash>\n  <devices>\n    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n    <disk type='volume' device='disk'>\n      <driver name='qemu' type='qcow2' cache='none'/>\n      <source pool='shared' volume='{vm}.qcow2'/>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n    <serial type='file'><source path='{dir}/shared/{vm}.serial'/></serial>\n    <video><model type='none'/></video>\n    <memballoon model='none'/>\n  </devices>\n</domain>\n"
        );
        let path = self.path().join(format!("{vm}-template.xml"));
        std::fs::write(&path, template).unwrap();
        let mut t = format!(
            "[vm.reinstall]\npool = \"shared\"\nvolume = \"golden.qcow2\"\ntemplate = \"{}\"\n",
            path.display()
        );
        if seed {
            t.push_str(&format!("[vm.reinstall.seed]\nhostname = \"{vm}\"\nssh_authorized_keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIlab lab@3rc\"]\ncdrom_bus = \"ide\"\n"));
        }
        t
    }

    /// As `config`, with `per_vm(name)` written under each `[[vm]]`.
    pub fn config_with(&self, vms: &[String], extra_defaults: &str, per_vm: impl Fn(&str) -> String) -> PathBuf {
        let p = self.path().join("lab.toml");
        std::fs::write(&p, self.config_text("state", vms, extra_defaults, per_vm)).unwrap();
        p
    }

    fn config_text(
        &self,
        state: &str,
        vms: &[String],
        extra_defaults: &str,
        per_vm: impl Fn(&str) -> String,
    ) -> String {
        let fence = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/fence_lab");
        // The lab's witness: the bridge's own address, reached from the client namespace.
        let mut c = format!(
            "state_dir = \"{state}\"\n[quorum]\nwitnesses = [\"ping:10.233.7.1\"]\n[defaults]\nunsafe_migration = true\n{extra_defaults}\n"
        );
        for i in 1..=self.hosts {
            c.push_str(&format!(
                "[[host]]\nname = \"hv{i}\"\nuri = \"qemu+tcp://10.233.7.{}/system\"\nmigration_uri = \"tcp://10.233.7.{}\"\nfence = {{ agent = \"{}\", options = {{ plug = \"hv{i}\", lab_dir = \"{}\" }} }}\n",
                10 + i,
                10 + i,
                fence.display(),
                self.path().display()
            ));
        }
        for vm in vms {
            c.push_str(&format!("[[vm]]\nname = \"{vm}\"\n{}", per_vm(vm)));
        }
        c
    }

    /// `n` supervisor machines s1..sN on the lab's bridge, each running a member of one etcd
    /// cluster (`lab.sh sup-up`): the members' client URLs.
    pub fn sup_up(&self, n: usize) -> Vec<String> {
        self.run(&["sup-up", &n.to_string()]).trim().split(',').map(str::to_string).collect()
    }

    /// The config of supervisor `k` of several (`[ha]`, name `sK`, on etcd at `etcd`): as
    /// `config`, with a `state_dir` of its own (`state-sK`) and one prefix for all.
    pub fn ha_config(&self, k: usize, etcd: &[String], vms: &[String], extra_defaults: &str) -> PathBuf {
        let mut c = self.config_text(&format!("state-s{k}"), vms, extra_defaults, |_| String::new());
        let urls: Vec<String> = etcd.iter().map(|u| format!("{u:?}")).collect();
        c.push_str(&format!("[ha]\netcd = [{}]\nname = \"s{k}\"\nprefix = \"/3rc/lab\"\n", urls.join(", ")));
        let p = self.path().join(format!("lab-s{k}.toml"));
        std::fs::write(&p, c).unwrap();
        p
    }

    /// What the lab's fence agent was asked, in order: (wall clock, action, host).
    pub fn fence_log(&self) -> Vec<(f64, String, String)> {
        std::fs::read_to_string(self.path().join("fence.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                Some((w.next()?.parse().ok()?, w.next()?.to_string(), w.next()?.to_string()))
            })
            .collect()
    }
}

impl Lab {
    /// Make `host`'s fence device in the config at `config` slow: fence-agents' `delay` option,
    /// which the lab agent waits before cutting the power.
    pub fn slow_fence(&self, config: &Path, host: &str, secs: u32) {
        let text = std::fs::read_to_string(config).unwrap();
        let plug = format!("plug = \"{host}\", ");
        assert!(text.contains(&plug), "no fence for {host} in {}", config.display());
        std::fs::write(config, text.replace(&plug, &format!("{plug}delay = \"{secs}\", "))).unwrap();
    }
}

/// The VMs whose qemu runs on `host` now.
fn running_on(dir: &Path, host: &str) -> Vec<String> {
    let out = Command::new(lab_script()).args(["running", dir.to_str().unwrap(), host]).output().expect("lab.sh");
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

fn truth_of(dir: &Path, hosts: usize) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 1..=hosts {
        let h = format!("hv{i}");
        for vm in running_on(dir, &h) {
            map.entry(vm.to_string()).or_default().push(h.clone());
        }
    }
    map
}

/// Wall clock, seconds since the epoch (as the journal's and the fence log's).
pub fn now_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// What a `Watch` saw.
#[derive(Default)]
pub struct Seen {
    /// "vm11 on hv1 and hv2", each time it was seen so.
    pub doubles: Vec<String>,
    /// (wall clock, where every VM ran) at each change.
    pub changes: Vec<(f64, BTreeMap<String, Vec<String>>)>,
}

/// `Lab::watch`.
pub struct Watch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Seen>>,
}

impl Watch {
    pub fn stop(mut self) -> Seen {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().unwrap().join().expect("the watch")
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(lab_script()).args(["down", self.dir.path().to_str().unwrap()]).output();
    }
}

/// `3rc run --headless` inside the lab's client namespace; killed when dropped.
pub struct Supervisor {
    child: Child,
    config: PathBuf,
    journal: PathBuf,
    logfile: PathBuf,
}

impl Supervisor {
    pub fn start(lab: &Lab, config: &Path) -> Supervisor {
        Supervisor::start_logging(lab, config, "info")
    }

    /// With `RUST_LOG` set to `filter` (its log is `state/3rc.log`, see `log_lines`).
    pub fn start_logging(lab: &Lab, config: &Path, filter: &str) -> Supervisor {
        Supervisor::spawn(lab, ("exec", None), config, filter, "state")
    }

    /// Supervisor `k` of several, on supervisor machine `sK` (`lab.sh sup-up`), with the config
    /// of `Lab::ha_config`.
    pub fn start_on(lab: &Lab, k: usize, config: &Path) -> Supervisor {
        Supervisor::spawn(lab, ("sup-exec", Some(&format!("s{k}"))), config, "info", &format!("state-s{k}"))
    }

    /// `lab.sh CMD DIR [WHERE] 3rc run --headless --config CONFIG`, its journal and log in
    /// `state`.
    fn spawn(lab: &Lab, (cmd, at): (&str, Option<&str>), config: &Path, filter: &str, state: &str) -> Supervisor {
        let child = Command::new(lab_script())
            .arg(cmd)
            .arg(lab.path())
            .args(at)
            .arg(env!("CARGO_BIN_EXE_3rc"))
            .args(["run", "--headless", "--config"])
            .arg(config)
            .env("RUST_LOG", filter)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start 3rc");
        let state = lab.path().join(state);
        Supervisor {
            child,
            config: config.to_path_buf(),
            journal: state.join("journal.db"),
            logfile: state.join("3rc.log"),
        }
    }

    /// `3rc ctl status` of this supervisor (through its control socket), or why not.
    pub fn status(&self) -> Result<String, String> {
        let out = Command::new(env!("CARGO_BIN_EXE_3rc"))
            .args(["ctl", "--config"])
            .arg(&self.config)
            .arg("status")
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The last `n` lines of 3RC's own log file, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let lines = self.log_lines();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The lines of 3RC's own log file so far.
    pub fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.logfile).unwrap_or_default().lines().map(str::to_string).collect()
    }

    /// Wall-clock time (seconds since the epoch) of the first journal line after `after`
    /// containing all of `parts`.
    pub fn wall_after(&self, after: f64, parts: &[&str]) -> Option<f64> {
        self.events()
            .into_iter()
            .find(|(w, _, t)| *w >= after && parts.iter().all(|p| t.contains(p)))
            .map(|(w, _, _)| w)
    }

    /// The journal's event lines ("12.0s vm vm11 Suspect -> Restarting: ..."), with their
    /// supervisor time in ms.
    pub fn log(&self) -> Vec<(u64, String)> {
        self.events().into_iter().map(|(_, at, t)| (at, t)).collect()
    }

    /// (wall clock, supervisor ms, text) of every journaled event.
    pub fn events(&self) -> Vec<(f64, u64, String)> {
        if !self.journal.exists() {
            return Vec::new();
        }
        threerc::store::read_events(&self.journal).unwrap_or_default()
    }

    /// VM definitions in the journal's inventory.
    pub fn inventory(&self) -> usize {
        if !self.journal.exists() {
            return 0;
        }
        threerc::store::inventory_count(&self.journal).unwrap_or(0)
    }

    pub fn text(&self) -> String {
        self.log().into_iter().map(|(_, t)| t).collect::<Vec<_>>().join("\n")
    }

    /// Wall-clock time (seconds since the epoch) of the first journal line containing all of
    /// `parts`.
    pub fn wall(&self, parts: &[&str]) -> Option<f64> {
        self.events().into_iter().find(|(_, _, t)| parts.iter().all(|p| t.contains(p))).map(|(w, _, _)| w)
    }

    /// Virtual time (ms) of the first journal line containing all of `parts`.
    pub fn at(&self, parts: &[&str]) -> Option<u64> {
        self.log().into_iter().find(|(_, t)| parts.iter().all(|p| t.contains(p))).map(|(at, _)| at)
    }

    pub fn wait_for(&self, lab: &Lab, what: &str, timeout: Duration, mut pred: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        while !pred(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\njournal:\n{}\ntruth: {:?}\nlast lines of 3rc's log:\n{}",
                self.text(),
                lab.truth(),
                self.log_tail(80)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Supervisor {
    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// "mean [min-max]" of figures in seconds, for the lab benchmarks.
pub fn mean_range(v: &[f64]) -> String {
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (lo, hi) = v.iter().fold((f64::MAX, 0.0f64), |(l, h), x| (l.min(*x), h.max(*x)));
    format!("{mean:.2}s [{lo:.2}-{hi:.2}]")
}

pub fn lab_allowed() -> bool {
    if std::env::var_os("THREERC_SKIP_LAB").is_some() {
        eprintln!("THREERC_SKIP_LAB is set: the real-libvirt lab test is NOT run");
        return false;
    }
    true
}

/// How many supervisor machines `HaLab` has.
pub const SUPERVISORS: usize = 3;

/// Several supervisors on the lab (`lab.sh sup-up`): the lab, its supervisors (index k-1 is
/// sK), which were killed, and their VMs.
pub struct HaLab {
    pub lab: Lab,
    pub sups: Vec<Supervisor>,
    pub killed: Vec<bool>,
    pub vms: Vec<String>,
    /// The etcd members' client URLs, sK's at index k-1.
    pub etcd: Vec<String>,
}

impl HaLab {
    /// Three hosts with two VMs each, three supervisor machines, and one supervisor leading
    /// with every VM healthy. s1 starts once s2 or s3 leads, so that it is a standby: its etcd
    /// member is the first of every instance's list, the one each sends its requests to first.
    pub fn up() -> (HaLab, usize) {
        Self::up_with(|_, _| {})
    }

    /// As `up`, with each supervisor's config changed by `prepare` first.
    pub fn up_with(prepare: impl Fn(&Lab, &Path)) -> (HaLab, usize) {
        let lab = Lab::up(3, 2);
        let etcd = lab.sup_up(SUPERVISORS);
        let vms: Vec<String> = (1..=3).flat_map(|i| (1..=2).map(move |j| format!("vm{i}{j}"))).collect();
        let start = |k| {
            let config = lab.ha_config(k, &etcd, &vms, "min_uptime = \"2s\"");
            prepare(&lab, &config);
            Supervisor::start_on(&lab, k, &config)
        };
        let mut sups = vec![start(2), start(3)];
        let deadline = Instant::now() + Duration::from_secs(60);
        while !sups.iter().enumerate().any(|(i, s)| s.text().contains(&format!("cluster note: s{} leads: ", i + 2))) {
            assert!(Instant::now() < deadline, "neither s2 nor s3 leads");
            std::thread::sleep(Duration::from_millis(100));
        }
        sups.insert(0, start(1));
        let ha = HaLab { lab, sups, killed: vec![false; SUPERVISORS], vms, etcd };
        let l = ha.settled(None, Duration::from_secs(90));
        // Each supervisor keeps its own inventory: one that takes over before it has read a
        // VM's definition cannot recover that VM from a dead host (rightly). A VM is healthy at
        // the first look, its definition read just after: wait for every supervisor's.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let read: Vec<usize> = ha.sups.iter().map(Supervisor::inventory).collect();
            if read.iter().all(|n| *n >= ha.vms.len()) {
                break;
            }
            assert!(Instant::now() < deadline, "inventories incomplete: {read:?} of {}\n{}", ha.vms.len(), ha.story());
            std::thread::sleep(Duration::from_millis(200));
        }
        (ha, l)
    }

    /// `etcdctl endpoint status` of every member, asked from sK's machine: (member id, the raft
    /// leader's id) of each that answers, sK's at index k-1.
    fn etcd_status(&self, k: usize) -> Vec<Option<(u64, u64)>> {
        let out = self.lab.run(&[
            "sup-exec",
            &format!("s{k}"),
            "etcdctl",
            "--endpoints",
            &self.etcd.join(","),
            "endpoint",
            "status",
            "-w",
            "json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        self.etcd
            .iter()
            .map(|url| {
                let e = v.as_array()?.iter().find(|e| e["Endpoint"].as_str() == Some(url))?;
                Some((e["Status"]["header"]["member_id"].as_u64()?, e["Status"]["leader"].as_u64()?))
            })
            .collect()
    }

    /// Make etcd's raft leader sK's member (`on`) or another one (`etcdctl move-leader`, asked
    /// of the raft leader): the machine of the raft leader cut off makes etcd elect another.
    pub fn move_raft_leader(&self, k: usize, on: bool) {
        let status = self.etcd_status(k);
        let ids: Vec<Option<u64>> = status.iter().map(|s| s.map(|(me, _)| me)).collect();
        let leader = status.iter().flatten().map(|(_, l)| *l).next().expect("a member that answers");
        let at = ids.iter().position(|id| *id == Some(leader)).expect("the raft leader answers");
        let mine = ids[k - 1].unwrap_or_else(|| panic!("s{k}'s etcd member does not answer"));
        let to = match on {
            true if leader == mine => return,
            true => mine,
            false if leader != mine => return,
            false => ids.iter().enumerate().find_map(|(i, id)| (i != k - 1).then_some(*id)?).expect("another member"),
        };
        self.lab.run(&[
            "sup-exec",
            &format!("s{k}"),
            "etcdctl",
            "--endpoints",
            &self.etcd[at],
            "move-leader",
            &format!("{to:x}"),
        ]);
        eprintln!("lab: etcd's raft leader moved {} s{k}'s member", if on { "to" } else { "off" });
        // Every instance's next request finds the new raft leader in place.
        std::thread::sleep(Duration::from_secs(1));
    }

    pub fn sup(&self, k: usize) -> &Supervisor {
        &self.sups[k - 1]
    }

    /// `kill -9` sK.
    pub fn kill(&mut self, k: usize) {
        self.sups[k - 1].kill();
        self.killed[k - 1] = true;
    }

    /// Whether sK is alive and its journal says it leads now (its last leadership line).
    pub fn leads(&self, k: usize) -> bool {
        if self.killed[k - 1] {
            return false;
        }
        let s = &self.sups[k - 1];
        let (lead, stop) = (format!("cluster note: s{k} leads: "), format!("cluster note: s{k} stops leading"));
        s.log()
            .iter()
            .rev()
            .find(|(_, t)| t.contains(&lead) || t.contains(&stop))
            .is_some_and(|(_, t)| t.contains(&lead))
    }

    /// Wall clock of sK's last "sK leads" line after `after`.
    pub fn led_at(&self, k: usize, after: f64) -> Option<f64> {
        self.sup(k).wall_after(after, &[&format!("cluster note: s{k} leads: ")])
    }

    /// Wait until exactly one live supervisor leads (not `not`), by its journal and its status,
    /// with every VM `Healthy` in its status: its number.
    pub fn settled(&self, not: Option<usize>, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let leaders: Vec<usize> = (1..=SUPERVISORS).filter(|k| self.leads(*k)).collect();
            if let [k] = leaders[..] {
                if Some(k) != not {
                    let status = self.sup(k).status().unwrap_or_default();
                    if status.contains(&format!("HA: s{k} leads"))
                        && self
                            .vms
                            .iter()
                            .all(|v| status.lines().any(|l| l.starts_with(&format!("{v} ")) && l.contains(" Healthy ")))
                    {
                        return k;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no one leader with every VM healthy: leaders {leaders:?}\n{}",
                self.story()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every journal's lines merged by wall clock, each with its supervisor's name, and the
    /// fence agent's log: for failure messages.
    pub fn story(&self) -> String {
        let mut lines: Vec<(f64, String)> = Vec::new();
        for (i, s) in self.sups.iter().enumerate() {
            lines.extend(s.events().into_iter().map(|(w, _, t)| (w, format!("s{}: {t}", i + 1))));
        }
        lines.extend(self.lab.fence_log().into_iter().map(|(w, a, h)| (w, format!("FENCE AGENT: {a} {h}"))));
        lines.sort_by(|a, b| a.0.total_cmp(&b.0));
        let t0 = lines.first().map_or(0.0, |l| l.0);
        let mut out: Vec<String> = lines.into_iter().map(|(w, t)| format!("{:7.2} {t}", w - t0)).collect();
        out.push(format!("truth: {:?}", self.lab.truth()));
        for (i, s) in self.sups.iter().enumerate() {
            out.push(format!("last lines of s{}'s log:\n{}", i + 1, s.log_tail(25)));
        }
        out.join("\n")
    }

    pub fn wait(&self, what: &str, timeout: Duration, pred: impl Fn(&HaLab) -> bool) {
        let deadline = Instant::now() + timeout;
        while !pred(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}\n{}", self.story());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
