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
}

/// The commands, for the error message of an unknown one.
pub const COMMANDS: &str =
    "host, vm, alarms, migrate, start, stop, restart, reinstall, arm, disarm, maintenance, host-off, ack, quit";

fn vm(view: &ClusterView, name: Option<&str>) -> Result<String, String> {
    let name = name.ok_or("which VM?")?;
    view.vm(name).map(|v| v.name.clone()).ok_or_else(|| format!("no VM named {name}"))
}

fn host(view: &ClusterView, name: Option<&str>) -> Result<String, String> {
    let name = name.ok_or("which host?")?;
    view.host(name).map(|h| h.name.clone()).ok_or_else(|| format!("no host named {name}"))
}

pub fn parse(text: &str, view: &ClusterView) -> Result<Parsed, String> {
    let mut words = text.split_whitespace();
    let Some(verb) = words.next() else { return Ok(Parsed::Nothing) };
    let a = words.next();
    let b = words.next();
    if let Some(extra) = words.next() {
        return Err(format!("unexpected {extra:?}"));
    }
    let cmd = match verb {
        "q" | "quit" => return Ok(Parsed::Quit),
        "host" | "h" => return Ok(Parsed::Open(Screen::Host(host(view, a)?))),
        "vm" | "v" => return Ok(Parsed::Open(Screen::Vm(vm(view, a)?))),
        "alarms" | "a" => return Ok(Parsed::Open(Screen::Alarms)),
        "migrate" => Command::Migrate { vm: vm(view, a)?, to: host(view, b)? },
        "start" => Command::Start { vm: vm(view, a)? },
        "stop" => Command::Stop { vm: vm(view, a)? },
        "restart" => Command::Restart { vm: vm(view, a)? },
        "reinstall" => Command::Reinstall { vm: vm(view, a)? },
        "arm" => Command::Arm { vm: a.map(|n| vm(view, Some(n))).transpose()? },
        "disarm" => Command::Disarm { vm: a.map(|n| vm(view, Some(n))).transpose()? },
        "maintenance" => {
            let on = match b {
                Some("on") => true,
                Some("off") => false,
                _ => return Err("maintenance HOST on|off".into()),
            };
            Command::Maintenance { host: host(view, a)?, on }
        }
        "host-off" => Command::ConfirmHostOff { host: host(view, a)? },
        "ack" => {
            let id = a.and_then(|s| s.trim_start_matches('#').parse().ok()).ok_or("ack ALARM-ID")?;
            Command::AckAlarm { id }
        }
        other => return Err(format!("unknown command {other:?} (commands: {COMMANDS})")),
    };
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
    }
}
