//! The P2V wizard as a pure step machine, for the console to drive and draw: source → test
//! connection → machine (name, vCPUs, memory, disks, NICs; defaults from the source) → target
//! (host, pool, network, format, warm, HA) → review → run (progress and log) → done.
//!
//! Keys come in, `Effect`s go out (test the connection, read a host, run, cancel, close); the
//! driver does the I/O and answers with `connected`, `target_read`, `progress` and `finished`.
//! Every check is `Answers`' own (the same as `3rc p2v`); an error names its field, and the
//! wizard goes to that field, on whatever step it lives. Nothing is made before the run step,
//! so leaving at any earlier step leaves nothing behind; a cancelled run removes what it made.

pub use super::plan::Field;
use super::plan::{Answers, Plan, Refused, TargetFacts};
use super::source::{Inventory, Source};
use crate::config::Config;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Source,
    Connection,
    Machine,
    Target,
    Review,
    Run,
    Done,
}

/// The keys the wizard understands (the console maps its keys onto these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Backspace,
    /// Next / previous field.
    Tab,
    BackTab,
    /// Move in a list, or change a choice.
    Up,
    Down,
    /// Toggle a checkbox, or the list item under the cursor.
    Space,
    /// Next step.
    Enter,
    /// Previous step (at the run step: cancel the run).
    Esc,
    /// Leave the wizard (at the run step: cancel the run).
    Cancel,
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Test the connection, then take the inventory; answer with `connected`.
    TestConnection(Source),
    /// Read the host's pools, networks and domains; answer with `target_read`.
    ReadTarget(String),
    /// Run the plan; report with `progress`, `log` and `finished`.
    Run(Box<Plan>),
    /// Cancel the run (it removes what it made, then `finished` comes).
    CancelRun,
    /// The wizard is done with.
    Close,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Toggle,
    Choice,
    Checks,
}

/// The fields of a step, in order, with their kind.
pub fn fields(step: Step) -> &'static [(Field, Kind)] {
    match step {
        Step::Source => &[
            (Field::Source, Kind::Text),
            (Field::Sudo, Kind::Toggle),
            (Field::Identity, Kind::Text),
            (Field::SshOptions, Kind::Text),
        ],
        Step::Machine => &[
            (Field::Name, Kind::Text),
            (Field::Vcpus, Kind::Text),
            (Field::Memory, Kind::Text),
            (Field::Disks, Kind::Checks),
            (Field::Nics, Kind::Checks),
        ],
        Step::Target => &[
            (Field::Host, Kind::Choice),
            (Field::Pool, Kind::Choice),
            (Field::Network, Kind::Text),
            (Field::Format, Kind::Choice),
            (Field::DomainType, Kind::Choice),
            (Field::SerialLog, Kind::Text),
            (Field::Warm, Kind::Toggle),
            (Field::StopCommand, Kind::Text),
            (Field::Protect, Kind::Toggle),
            (Field::Policy, Kind::Text),
        ],
        _ => &[],
    }
}

const FORMATS: [&str; 3] = ["auto", "qcow2", "raw"];
const DOMAIN_TYPES: [&str; 3] = ["auto", "kvm", "qemu"];

#[derive(Clone, Debug)]
pub struct Wizard {
    pub step: Step,
    /// Index into `fields(step)`.
    pub focus: usize,
    /// Cursor inside a checklist.
    pub cursor: usize,
    pub answers: Answers,
    /// The ssh options as typed (space-separated).
    pub ssh_options: String,
    pub hosts: Vec<String>,
    pub hello: Option<String>,
    pub inventory: Option<Inventory>,
    pub facts: Option<TargetFacts>,
    pub plan: Option<Plan>,
    /// The last refused answer, naming its field.
    pub error: Option<String>,
    /// Waiting for the driver's answer to an effect.
    pub waiting: Option<String>,
    /// The last progress line of the run (`sda copy: 1.2 GiB of 10.0 GiB (12%), ...`).
    pub progress: Option<String>,
    pub log: Vec<String>,
    pub cancelling: bool,
    /// The run's end: its summary, or why it failed.
    pub outcome: Option<Result<Vec<String>, String>>,
    cfg: Config,
}

impl Wizard {
    pub fn new(cfg: Config) -> Wizard {
        let hosts: Vec<String> = cfg.hosts.iter().map(|h| h.name.clone()).collect();
        let answers = Answers {
            host: hosts.first().cloned().unwrap_or_default(),
            format: "auto".into(),
            domain_type: "auto".into(),
            start: true,
            protect: cfg.state_dir.is_some(),
            ..Default::default()
        };
        Wizard {
            step: Step::Source,
            focus: 0,
            cursor: 0,
            answers,
            ssh_options: String::new(),
            hosts,
            hello: None,
            inventory: None,
            facts: None,
            plan: None,
            error: None,
            waiting: None,
            progress: None,
            log: Vec::new(),
            cancelling: false,
            outcome: None,
            cfg,
        }
    }

    pub fn field(&self) -> Option<(Field, Kind)> {
        fields(self.step).get(self.focus).copied()
    }

    /// The choices of a choice field, and which is taken.
    pub fn choices(&self, field: Field) -> (Vec<String>, usize) {
        let (list, current): (Vec<String>, &str) = match field {
            Field::Host => (self.hosts.clone(), &self.answers.host),
            Field::Pool => (
                self.facts.iter().flat_map(|f| f.pools.iter().map(|(p, _)| p.name.clone())).collect(),
                &self.answers.pool,
            ),
            Field::Format => (FORMATS.iter().map(|s| s.to_string()).collect(), &self.answers.format),
            Field::DomainType => (DOMAIN_TYPES.iter().map(|s| s.to_string()).collect(), &self.answers.domain_type),
            _ => (Vec::new(), ""),
        };
        let at = list.iter().position(|x| x == current).unwrap_or(0);
        (list, at)
    }

    /// The items of a checklist: (label, checked).
    pub fn checks(&self, field: Field) -> Vec<(String, bool)> {
        let Some(inv) = &self.inventory else { return Vec::new() };
        match field {
            Field::Disks => inv
                .disks
                .iter()
                .map(|d| {
                    let label = format!(
                        "{} {} {}{}",
                        d.name,
                        super::plan::human_bytes(d.size),
                        d.model.as_deref().unwrap_or(""),
                        d.serial.as_ref().map(|s| format!(" ({s})")).unwrap_or_default()
                    );
                    (label, self.answers.disks.contains(&d.name))
                })
                .collect(),
            Field::Nics => inv
                .nics
                .iter()
                .map(|n| (format!("{} {}", n.name, n.mac), self.answers.nics.contains(&n.name)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The text of a text field.
    pub fn text(&self, field: Field) -> &str {
        match field {
            Field::Source => &self.answers.source,
            Field::Identity => &self.answers.identity,
            Field::SshOptions => &self.ssh_options,
            Field::Name => &self.answers.name,
            Field::Vcpus => &self.answers.vcpus,
            Field::Memory => &self.answers.memory,
            Field::Network => &self.answers.network,
            Field::StopCommand => &self.answers.stop_command,
            Field::Policy => &self.answers.policy,
            Field::SerialLog => &self.answers.serial_log,
            _ => "",
        }
    }

    fn text_mut(&mut self, field: Field) -> Option<&mut String> {
        Some(match field {
            Field::Source => &mut self.answers.source,
            Field::Identity => &mut self.answers.identity,
            Field::SshOptions => &mut self.ssh_options,
            Field::Name => &mut self.answers.name,
            Field::Vcpus => &mut self.answers.vcpus,
            Field::Memory => &mut self.answers.memory,
            Field::Network => &mut self.answers.network,
            Field::StopCommand => &mut self.answers.stop_command,
            Field::Policy => &mut self.answers.policy,
            Field::SerialLog => &mut self.answers.serial_log,
            _ => return None,
        })
    }

    pub fn toggle_value(&self, field: Field) -> bool {
        match field {
            Field::Sudo => self.answers.sudo,
            Field::Warm => self.answers.warm,
            Field::Protect => self.answers.protect,
            _ => false,
        }
    }

    /// One key. Returns what the driver must do, if anything.
    pub fn key(&mut self, key: Key) -> Option<Effect> {
        if self.waiting.is_some() {
            // Only leaving is possible while the driver works; its late answer is ignored.
            return match key {
                Key::Esc | Key::Cancel => {
                    self.waiting = None;
                    self.step = if self.step == Step::Connection { Step::Source } else { self.step };
                    None
                }
                _ => None,
            };
        }
        match (self.step, key) {
            (Step::Run, Key::Esc | Key::Cancel) if !self.cancelling => {
                self.cancelling = true;
                self.log.push("cancelling: removing what this run made".into());
                Some(Effect::CancelRun)
            }
            (Step::Run, _) => None,
            (Step::Done, Key::Enter | Key::Esc | Key::Cancel) => Some(Effect::Close),
            (_, Key::Cancel) => Some(Effect::Close),
            (_, Key::Esc) => self.back(),
            (_, Key::Enter) => self.next(),
            (_, Key::Tab) => {
                self.move_focus(1);
                None
            }
            (_, Key::BackTab) => {
                self.move_focus(-1);
                None
            }
            (_, k) => self.edit(k),
        }
    }

    fn move_focus(&mut self, by: isize) {
        let n = fields(self.step).len() as isize;
        if n > 0 {
            self.focus = (self.focus as isize + by).rem_euclid(n) as usize;
            self.cursor = 0;
        }
    }

    fn edit(&mut self, key: Key) -> Option<Effect> {
        let (name, kind) = self.field()?;
        match (kind, key) {
            (Kind::Text, Key::Char(c)) => self.text_mut(name).map(|t| t.push(c)).map(|_| self.error = None)?,
            (Kind::Text, Key::Space) => self.text_mut(name).map(|t| t.push(' '))?,
            (Kind::Text, Key::Backspace) => self.text_mut(name).map(|t| {
                t.pop();
            })?,
            (Kind::Toggle, Key::Space) => match name {
                Field::Sudo => self.answers.sudo = !self.answers.sudo,
                Field::Warm => self.answers.warm = !self.answers.warm,
                Field::Protect => self.answers.protect = !self.answers.protect,
                _ => {}
            },
            (Kind::Choice, Key::Up | Key::Down | Key::Space) => {
                let (list, at) = self.choices(name);
                if list.is_empty() {
                    return None;
                }
                let at = if key == Key::Up { (at + list.len() - 1) % list.len() } else { (at + 1) % list.len() };
                let value = list[at].clone();
                match name {
                    Field::Host => {
                        self.answers.host = value.clone();
                        self.answers.pool.clear();
                        self.facts = None;
                        self.waiting = Some(format!("reading {value}"));
                        return Some(Effect::ReadTarget(value));
                    }
                    Field::Pool => self.answers.pool = value,
                    Field::Format => self.answers.format = value,
                    Field::DomainType => self.answers.domain_type = value,
                    _ => {}
                }
            }
            (Kind::Checks, Key::Up) => self.cursor = self.cursor.saturating_sub(1),
            (Kind::Checks, Key::Down) => self.cursor = (self.cursor + 1).min(self.checks(name).len().saturating_sub(1)),
            (Kind::Checks, Key::Space) => {
                let inv = self.inventory.as_ref()?;
                let (list, item) = match name {
                    Field::Disks => (&mut self.answers.disks, inv.disks.get(self.cursor).map(|d| d.name.clone())),
                    _ => (&mut self.answers.nics, inv.nics.get(self.cursor).map(|n| n.name.clone())),
                };
                let item = item?;
                if let Some(i) = list.iter().position(|x| *x == item) {
                    list.remove(i);
                } else {
                    list.push(item);
                    // Keep the source's order.
                    let order: Vec<String> = match name {
                        Field::Disks => inv.disks.iter().map(|d| d.name.clone()).collect(),
                        _ => inv.nics.iter().map(|n| n.name.clone()).collect(),
                    };
                    list.sort_by_key(|x| order.iter().position(|o| o == x));
                }
            }
            _ => {}
        }
        None
    }

    fn back(&mut self) -> Option<Effect> {
        self.error = None;
        self.focus = 0;
        self.cursor = 0;
        self.step = match self.step {
            Step::Source => return Some(Effect::Close),
            Step::Connection => Step::Source,
            Step::Machine => Step::Connection,
            Step::Target => Step::Machine,
            Step::Review => Step::Target,
            s => s,
        };
        None
    }

    /// Refuse an answer, going to its field on whatever step it lives.
    fn refuse(&mut self, refused: Refused) -> Option<Effect> {
        for step in [Step::Source, Step::Machine, Step::Target] {
            if let Some(i) = fields(step).iter().position(|(f, _)| *f == refused.field) {
                self.step = step;
                self.focus = i;
                self.cursor = 0;
                break;
            }
        }
        self.error = Some(refused.message);
        None
    }

    fn next(&mut self) -> Option<Effect> {
        self.error = None;
        match self.step {
            Step::Source => {
                self.answers.ssh_options = self.ssh_options.split_whitespace().map(str::to_string).collect();
                match self.answers.source() {
                    Ok(source) => {
                        self.step = Step::Connection;
                        self.hello = None;
                        self.waiting = Some(format!("testing the connection to {}", source.describe()));
                        Some(Effect::TestConnection(source))
                    }
                    Err(e) => self.refuse(e),
                }
            }
            Step::Connection => {
                if self.inventory.is_some() {
                    self.step = Step::Machine;
                    self.focus = 0;
                }
                None
            }
            Step::Machine => {
                let inv = self.inventory.as_ref()?;
                if let Err(e) = self.answers.check_machine(inv) {
                    return self.refuse(e);
                }
                self.step = Step::Target;
                self.focus = 0;
                if self.facts.as_ref().is_some_and(|f| f.host == self.answers.host) {
                    return None;
                }
                self.waiting = Some(format!("reading {}", self.answers.host));
                Some(Effect::ReadTarget(self.answers.host.clone()))
            }
            Step::Target => {
                let (Some(inv), Some(facts)) = (&self.inventory, &self.facts) else {
                    return self.refuse(
                        Field::Host.refuse(format!(
                            "host {}: its pools and networks have not been read yet",
                            self.answers.host
                        )),
                    );
                };
                match self.answers.build(inv, facts, &self.cfg) {
                    Ok(plan) => {
                        self.plan = Some(plan);
                        self.step = Step::Review;
                        None
                    }
                    Err(e) => self.refuse(e),
                }
            }
            Step::Review => {
                let plan = self.plan.clone()?;
                self.step = Step::Run;
                self.log.clear();
                self.cancelling = false;
                Some(Effect::Run(Box::new(plan)))
            }
            Step::Run | Step::Done => None,
        }
    }

    /// The driver's answer to `TestConnection`: a line saying what was reached and the
    /// inventory, or why not.
    pub fn connected(&mut self, result: Result<(String, Inventory), String>) {
        if self.waiting.take().is_none() || self.step != Step::Connection {
            return; // left meanwhile
        }
        match result {
            Ok((hello, inv)) => {
                // A different machine: its defaults, not the last one's.
                if self.inventory.as_ref().is_some_and(|old| old.hostname != inv.hostname || old.disks != inv.disks) {
                    let keep = Answers { host: self.answers.host.clone(), ..Default::default() };
                    let a = &mut self.answers;
                    (a.name, a.vcpus, a.memory, a.disks, a.nics) =
                        (keep.name, keep.vcpus, keep.memory, keep.disks, keep.nics);
                }
                self.answers.defaults_from(&inv);
                self.hello = Some(hello);
                self.inventory = Some(inv);
            }
            Err(e) => {
                self.step = Step::Source;
                self.focus = 0;
                self.error = Some(format!("source: test connection failed: {e}"));
            }
        }
    }

    /// The driver's answer to `ReadTarget`.
    pub fn target_read(&mut self, result: Result<TargetFacts, String>) {
        if self.waiting.take().is_none() {
            return;
        }
        match result {
            Ok(facts) if facts.host == self.answers.host => {
                if !facts.pools.iter().any(|(p, _)| p.name == self.answers.pool) {
                    self.answers.pool = facts.pools.first().map(|(p, _)| p.name.clone()).unwrap_or_default();
                }
                if self.answers.network.is_empty() && !self.answers.nics.is_empty() {
                    self.answers.network = facts.networks.first().cloned().unwrap_or_default();
                }
                self.facts = Some(facts);
            }
            Ok(_) => {}
            Err(e) => {
                self.facts = None;
                // The error names the host field (the driver's errors usually do already).
                self.error = Some(if e.starts_with("host ") { e } else { format!("host {}: {e}", self.answers.host) });
            }
        }
    }

    pub fn progress(&mut self, line: String) {
        self.progress = Some(line);
    }

    pub fn note(&mut self, line: String) {
        self.log.push(line);
    }

    /// The run ended: its summary lines, or the error (which says what was removed).
    pub fn finished(&mut self, result: Result<Vec<String>, String>) {
        self.step = Step::Done;
        self.outcome = Some(result);
    }
}

#[cfg(test)]
#[path = "wizard_tests.rs"]
mod tests;
