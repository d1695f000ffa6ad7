//! Runs the console in front of a supervisor: forwards the console's requests (commands to the
//! supervisor, the demo's fault-injector toggle, domain XML look-ups) and sends the answers back
//! (a command's verdict becomes a flash; a refused command is also logged).

use crate::config::{Config, ConsoleConfig};
use crate::core::HostSpec;
use crate::hv::Connector;
use crate::p2v::copy::Cancel;
use crate::p2v::run::Note;
use crate::p2v::wizard::Effect;
use crate::supervisor::{Supervisor, SupervisorHandle};
use crate::ui::{self, Confirmation, KeymapContext, P2vFeedback, UiFeedback, UiOptions, UiRequest};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

/// Who is at the keyboard, for the journal: "console:alice". The person behind `sudo` first,
/// then the login's name; where the environment says nothing (`ip netns exec`, a service), the
/// user the process runs as.
pub fn origin() -> String {
    let user = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .or_else(user_of_process)
        .unwrap_or_else(|| "unknown".into());
    format!("console:{user}")
}

/// The name of the user this process runs as, from /etc/passwd (`uid N` when it has no name).
fn user_of_process() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let name = passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.get(2) == Some(&uid.as_str())).then(|| f[0].to_string())
    });
    Some(name.unwrap_or(format!("uid {uid}")))
}

/// The origin journaled with a command: who, and how it was confirmed,
/// e.g. `console:alice (confirmed by typing web1)`.
pub fn origin_of(who: &str, confirmed: &Confirmation) -> String {
    match confirmed.describe() {
        Some(how) => format!("{who} ({how})"),
        None => who.to_string(),
    }
}

/// How the console is set up: the config's `[console]` with the command line's overrides.
#[derive(Clone, Debug)]
pub struct ConsoleSetup {
    pub theme: ui::Theme,
    pub title: String,
    pub config: ConsoleConfig,
    /// The config file, for errors in `[console.keys]`.
    pub source: String,
    /// The P2V wizard's driver (`None`: no wizard).
    pub p2v: Option<P2vDriver>,
}

/// Carries out the P2V wizard's effects: ssh and libvirt calls block, so each runs on a
/// blocking thread and answers on the feedback channel. The UI never calls them itself.
#[derive(Clone)]
pub struct P2vDriver {
    cfg: Arc<Config>,
    connector: Arc<Connector>,
    /// The running P2V's cancel, if one runs.
    running: Arc<Mutex<Option<Cancel>>>,
}

impl std::fmt::Debug for P2vDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "P2vDriver({})", self.cfg.path.display())
    }
}

/// Where the console's commands go: the supervisor in this process, or one it is attached to
/// through the socket (which decides the origin from the connection itself).
#[derive(Clone)]
pub enum Commander {
    Local { handle: SupervisorHandle, who: String },
    Remote(mpsc::UnboundedSender<(crate::core::Command, tokio::sync::oneshot::Sender<crate::supervisor::Answer>)>),
}

impl Commander {
    /// Send a command that needs no consent (the P2V wizard's `protect`) and wait for the verdict.
    pub async fn command(&self, command: crate::core::Command) -> crate::supervisor::Answer {
        match self {
            Commander::Local { handle, who } => handle.command(who, command).await,
            Commander::Remote(tx) => {
                let (reply, answer) = tokio::sync::oneshot::channel();
                tx.send((command, reply)).map_err(|_| "the console's link to the supervisor has ended".to_string())?;
                answer.await.map_err(|_| "the connection to the supervisor was lost before its answer".to_string())?
            }
        }
    }
}

impl P2vDriver {
    pub fn new(cfg: Config, connector: Arc<Connector>) -> P2vDriver {
        P2vDriver { cfg: Arc::new(cfg), connector, running: Arc::default() }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn host(&self, name: &str) -> Result<Box<dyn crate::hv::Hypervisor>, String> {
        let h = self.cfg.hosts.iter().find(|h| h.name == name).ok_or_else(|| format!("no host named {name}"))?;
        Ok((self.connector)(&HostSpec {
            name: h.name.clone(),
            uri: h.uri.clone(),
            fence_agent: None,
            soft_fence: false,
        }))
    }

    /// Carry out one of the wizard's effects; its protect goes to `commander`.
    pub fn effect(&self, effect: Effect, commander: &Commander, feedback: &mpsc::UnboundedSender<UiFeedback>) {
        let fb = feedback.clone();
        let send = move |f: P2vFeedback| {
            let _ = fb.send(UiFeedback::P2v(f));
        };
        match effect {
            Effect::TestConnection(source) => {
                tokio::task::spawn_blocking(move || {
                    let r = source.test_connection().and_then(|hello| Ok((hello, source.inventory()?)));
                    send(P2vFeedback::Connected(r));
                });
            }
            Effect::ReadTarget(host) => {
                let me = self.clone();
                tokio::task::spawn_blocking(move || {
                    let r = me.host(&host).and_then(|mut hv| super::p2v::target_facts(hv.as_mut(), &host)).map(
                        |mut facts| {
                            facts.others = super::p2v::other_hosts_domains(&me.cfg, &*me.connector, &host);
                            facts
                        },
                    );
                    send(P2vFeedback::Target(r));
                });
            }
            Effect::Run(plan) => {
                let cancel = Cancel::default();
                if let Ok(mut slot) = self.running.lock() {
                    *slot = Some(cancel.clone());
                }
                let (me, commander, rt) = (self.clone(), commander.clone(), tokio::runtime::Handle::current());
                tokio::task::spawn_blocking(move || {
                    let result = me.host(&plan.host).and_then(|mut hv| {
                        let mut note = |n: Note| match n {
                            Note::Step(s) => {
                                info!(target: "3rc::p2v", "{s}");
                                send(P2vFeedback::Note(s))
                            }
                            Note::Progress(p) => send(P2vFeedback::Progress(p.to_string())),
                        };
                        let mut protect = |spec: &crate::core::VmSpec| {
                            rt.block_on(
                                commander.command(crate::core::Command::Protect { spec: Box::new(spec.clone()) }),
                            )
                            .map(|_| ())
                        };
                        crate::p2v::run::execute(&plan, hv.as_mut(), &cancel, &mut note, &mut protect)
                    });
                    if let Ok(mut slot) = me.running.lock() {
                        *slot = None;
                    }
                    match &result {
                        Ok(_) => info!(target: "3rc::p2v", "{} converted onto {}", plan.name, plan.host),
                        Err(e) => warn!(target: "3rc::p2v", "p2v of {} failed: {e}", plan.name),
                    }
                    send(P2vFeedback::Finished(result.map(|r| r.summary(&plan))));
                });
            }
            Effect::CancelRun => {
                if let Some(c) = self.running.lock().ok().and_then(|s| s.clone()) {
                    c.cancel();
                }
            }
            Effect::Close => {}
        }
    }
}

/// The session's keymap; an error names the `[console.keys]` entry at fault.
pub fn keymap(config: &ConsoleConfig, has_injector: bool) -> anyhow::Result<ui::Keymap> {
    let ctx = KeymapContext { has_injector, readonly: config.readonly, remap: config.keys.clone() };
    ui::Keymap::build(&ctx).map_err(anyhow::Error::msg)
}

/// Answer one request; the verdict of a command comes back on `feedback`.
pub fn forward(
    req: UiRequest,
    handle: &SupervisorHandle,
    who: &str,
    injector: Option<(&AtomicBool, &watch::Sender<bool>)>,
    feedback: &mpsc::UnboundedSender<UiFeedback>,
    p2v: Option<&P2vDriver>,
) {
    match req {
        UiRequest::P2v(effect) => match p2v {
            Some(d) => d.effect(effect, &Commander::Local { handle: handle.clone(), who: who.to_string() }, feedback),
            None => warn!(target: "3rc::console", "P2V is not available in this console"),
        },
        UiRequest::Command { command, confirmed } => {
            let (h, origin, fb) = (handle.clone(), origin_of(who, &confirmed), feedback.clone());
            tokio::spawn(async move {
                let shown = command.to_string();
                // The console asks before it sends; a command that comes without the consent it
                // needs (`core::consent`) is not sent.
                let verdict = match crate::core::consent::refusal(&command) {
                    Some(why) if !confirmed.satisfies(&command.consent()) => Err(why),
                    _ => h.command(&origin, command).await,
                };
                let (refused, warning) = match verdict {
                    Ok(None) => {
                        info!(target: "3rc::console", "{shown} by {origin}: accepted");
                        (None, None)
                    }
                    Ok(Some(w)) => {
                        warn!(target: "3rc::console", "{shown} by {origin}: accepted, {w}");
                        (None, Some(w))
                    }
                    Err(e) => {
                        warn!(target: "3rc::console", "{shown} by {origin}: refused: {e}");
                        (Some(e), None)
                    }
                };
                let _ = fb.send(UiFeedback::Verdict { command: shown, refused, warning });
            });
        }
        UiRequest::DomainXml { vm } => {
            let xml = handle.domain_xml(&vm);
            let _ = feedback.send(UiFeedback::DomainXml { vm, xml });
        }
        UiRequest::WhatIf { question } => {
            let (h, fb) = (handle.clone(), feedback.clone());
            tokio::spawn(async move {
                let answer = super::simulate::what_if_live(&h, question.clone()).await;
                if let Err(e) = &answer {
                    warn!(target: "3rc::console", "what if {question}: {e}");
                }
                let _ = fb.send(UiFeedback::WhatIf { question, answer });
            });
        }
        UiRequest::ToggleFaultInjector => {
            if let Some((flag, tx)) = injector {
                let on = !flag.load(Ordering::Relaxed);
                flag.store(on, Ordering::Relaxed);
                let _ = tx.send(on);
                info!(target: "demo", "fault injector {}", if on { "on" } else { "off" });
            }
        }
    }
}

pub async fn run(
    sup: Supervisor,
    handle: SupervisorHandle,
    setup: ConsoleSetup,
    injector: Option<Arc<AtomicBool>>,
) -> anyhow::Result<()> {
    let keymap = keymap(&setup.config, injector.is_some()).map_err(|e| e.context(setup.source.clone()))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let supervisor = tokio::spawn(sup.run(async {
        let _ = stop_rx.await;
    }));
    let (req_tx, mut req_rx) = mpsc::unbounded_channel::<UiRequest>();
    let (fb_tx, fb_rx) = mpsc::unbounded_channel::<UiFeedback>();
    let (inj_tx, inj_rx) = watch::channel(injector.as_ref().is_some_and(|f| f.load(Ordering::Relaxed)));
    let has_injector = injector.is_some();
    let who = origin();
    let h = handle.clone();
    let p2v = setup.p2v.clone();
    let forwarder = tokio::spawn(async move {
        while let Some(req) = req_rx.recv().await {
            forward(req, &h, &who, injector.as_deref().map(|f| (f, &inj_tx)), &fb_tx, p2v.as_ref());
        }
    });
    let opts = UiOptions {
        theme: setup.theme,
        title: setup.title,
        injector: has_injector.then_some(inj_rx),
        keymap,
        readonly: setup.config.readonly,
        bell: setup.config.bell,
        feedback: Some(fb_rx),
        p2v: setup.p2v.as_ref().map(|d| crate::p2v::wizard::Wizard::new(d.config().clone())),
    };
    let result = ui::run(opts, handle.snapshots(), req_tx).await;
    let _ = stop_tx.send(());
    let _ = supervisor.await;
    forwarder.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_user_is_named_from_passwd() {
        let me = user_of_process().unwrap();
        let uid = std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("Uid:").map(|r| r.split_whitespace().next().unwrap().to_string()))
            .unwrap();
        let named = std::fs::read_to_string("/etc/passwd").unwrap().lines().any(|l| {
            let f: Vec<&str> = l.split(':').collect();
            f.get(2) == Some(&uid.as_str()) && f[0] == me
        });
        assert!(named || me == format!("uid {uid}"), "{me} for uid {uid}");
    }

    #[test]
    fn the_origin_says_who_and_how() {
        assert_eq!(origin_of("console:alice", &Confirmation::NotNeeded), "console:alice");
        assert_eq!(origin_of("console:alice", &Confirmation::Dialog), "console:alice (confirmed in a dialog)");
        assert_eq!(
            origin_of("console:alice", &Confirmation::Typed("web1".into())),
            "console:alice (confirmed by typing web1)"
        );
    }

    #[test]
    fn the_example_config_remaps_keys_and_readonly_removes_dangerous_ones() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/example.toml");
        let cfg = crate::config::Config::load(&path).unwrap();
        assert_eq!(cfg.console.keys.get("restart"), Some(&vec!["r".to_string(), "F5".to_string()]));
        let km = keymap(&cfg.console, false).unwrap();
        let f5 = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::F(5));
        assert_eq!(km.action_for(&f5, &crate::ui::Screen::Overview), Some(crate::ui::Action::Restart));
        let ro = ConsoleConfig { readonly: true, ..cfg.console };
        assert_eq!(keymap(&ro, false).unwrap().action_for(&f5, &crate::ui::Screen::Overview), None);
    }
}
