//! `:` command mode: `:host hv2`, `:vm web1`, `:migrate web1 hv3`, `:restart web1`, ...
//!
//! Names are checked against the current snapshot so a typo is an error flash at once; the
//! commands themselves then go through the same confirmation path as their keys.

use super::app::Screen;
use crate::core::{ClusterView, Command};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    Nothing,
    Quit,
    Open(Screen),
    Command(Command),
    /// `:what-if host hv2 down; vm web1 crash`: simulate, change nothing.
    WhatIf(String),
}

/// The console's own verbs, for the error message of an unknown one (the operator commands
/// come from `Command::parse`, the grammar `3rc ctl` uses too).
pub const SCREENS: &str = "host HOST, vm VM, alarms, what-if QUESTION, quit";

fn vm(view: &ClusterView, name: Option<&str>) -> Result<String, String> {
    let name = name.ok_or("which VM?")?;
    view.vm(name).map(|v| v.name.clone()).ok_or_else(|| format!("no VM named {name}"))
}

fn host(view: &ClusterView, name: Option<&str>) -> Result<String, String> {
    let name = name.ok_or("which host?")?;
    view.host(name).map(|h| h.name.clone()).ok_or_else(|| format!("no host named {name}"))
}

pub fn parse(text: &str, view: &ClusterView) -> Result<Parsed, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some(verb) = words.first() else { return Ok(Parsed::Nothing) };
    let arg = words.get(1).copied();
    if matches!(*verb, "what-if" | "whatif") {
        // Checked by the simulator's parser when it runs: its errors say what it accepts.
        let question = text.trim_start().split_once(char::is_whitespace).map(|(_, q)| q.trim()).unwrap_or("");
        if question.is_empty() {
            return Err("what if what? e.g. what-if host hv2 down".into());
        }
        return Ok(Parsed::WhatIf(question.to_string()));
    }
    let screen = match *verb {
        "q" | "quit" => Some(Parsed::Quit),
        "host" | "h" => Some(Parsed::Open(Screen::Host(host(view, arg)?))),
        "vm" | "v" => Some(Parsed::Open(Screen::Vm(vm(view, arg)?))),
        "alarms" | "a" => Some(Parsed::Open(Screen::Alarms)),
        _ => None,
    };
    if let Some(parsed) = screen {
        let limit = if matches!(parsed, Parsed::Open(Screen::Host(_) | Screen::Vm(_))) { 2 } else { 1 };
        if let Some(extra) = words.get(limit) {
            return Err(format!("unexpected {extra:?}"));
        }
        return Ok(parsed);
    }
    let cmd = Command::parse(&words).map_err(|e| {
        if e.starts_with("unknown command") {
            format!("{e}; or {SCREENS}")
        } else {
            e
        }
    })?;
    // A typo is an error at once, before any confirmation.
    match &cmd {
        Command::Migrate { vm: v, to } => {
            vm(view, Some(v))?;
            host(view, Some(to))?;
        }
        Command::Start { vm: v }
        | Command::Stop { vm: v }
        | Command::Restart { vm: v }
        | Command::Reinstall { vm: v }
        | Command::Arm { vm: Some(v) }
        | Command::Disarm { vm: Some(v) }
        | Command::Unprotect { vm: v } => {
            vm(view, Some(v))?;
        }
        Command::Maintenance { host: h, .. } | Command::ConfirmHostOff { host: h } => {
            host(view, Some(h))?;
        }
        Command::Arm { vm: None }
        | Command::Disarm { vm: None }
        | Command::AckAlarm { .. }
        | Command::Protect { .. } => {}
    }
    Ok(Parsed::Command(cmd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::fixture::cluster;

    #[test]
    fn commands_name_existing_hosts_and_vms() {
        let v = cluster();
        assert_eq!(parse("host hv2", &v), Ok(Parsed::Open(Screen::Host("hv2".into()))));
        assert_eq!(parse(" vm  web1 ", &v), Ok(Parsed::Open(Screen::Vm("web1".into()))));
        assert_eq!(
            parse("migrate web1 hv3", &v),
            Ok(Parsed::Command(Command::Migrate { vm: "web1".into(), to: "hv3".into() }))
        );
        assert_eq!(parse("disarm", &v), Ok(Parsed::Command(Command::Disarm { vm: None })));
        assert_eq!(parse("ack #7", &v), Ok(Parsed::Command(Command::AckAlarm { id: 7 })));
        assert_eq!(parse("", &v), Ok(Parsed::Nothing));
        assert_eq!(parse("vm web9", &v), Err("no VM named web9".into()));
        assert_eq!(parse("migrate web1 hv9", &v), Err("no host named hv9".into()));
        assert!(parse("teleport web1", &v).unwrap_err().contains("unknown command \"teleport\""));
        assert!(parse("maintenance hv1", &v).is_err());
        assert_eq!(
            parse("what-if host hv2 down; vm web1 crash", &v),
            Ok(Parsed::WhatIf("host hv2 down; vm web1 crash".into()))
        );
        assert!(parse("what-if  ", &v).unwrap_err().contains("what-if host hv2 down"));
    }
}
