//! `[vm.guest]`: a VM's guest probes (`core::guest`), checked at load.

use super::{raw, ConfigError, Locator};
use crate::core::GuestSpec;
use toml::Spanned;

/// A VM's `[vm.guest]` into its spec: at least one probe, a TCP address with a port, a plain
/// `http://` URL, and a timeout and window longer than zero.
pub(super) fn spec(vm: &str, g: &Spanned<raw::RawGuest>, at: &Locator) -> Result<GuestSpec, ConfigError> {
    let r = g.get_ref();
    let mut s =
        GuestSpec { agent: r.agent.unwrap_or(false), watchdog: r.watchdog.unwrap_or(false), ..Default::default() };
    if let Some(d) = r.agent_grace {
        s.agent_grace = d.0;
    }
    if let Some(d) = r.min_uptime {
        s.min_uptime = d.0;
    }
    if let Some(n) = r.max_restarts {
        s.max_restarts = n;
    }
    for (key, v, into) in [("timeout", &r.timeout, &mut s.timeout), ("window", &r.window, &mut s.window)] {
        if let Some(v) = v {
            if v.get_ref().0.is_zero() {
                return Err(at.err(Some(v.span()), format!("VM {vm}: [vm.guest] {key} must be longer than 0")));
            }
            *into = v.get_ref().0;
        }
    }
    if let Some(t) = &r.tcp {
        let a = t.get_ref();
        let port = a.rsplit_once(':').and_then(|(h, p)| (!h.is_empty()).then_some(p)).map(str::parse::<u16>);
        if !matches!(port, Some(Ok(p)) if p > 0) {
            return Err(at.err(
                Some(t.span()),
                format!("VM {vm}: [vm.guest] tcp {a:?} is not address:port (like \"10.0.0.5:22\")"),
            ));
        }
        s.tcp = Some(a.clone());
    }
    if let Some(u) = &r.http {
        crate::hv::guestnet::split_url(u.get_ref())
            .map_err(|e| at.err(Some(u.span()), format!("VM {vm}: [vm.guest] http {e}")))?;
        s.http = Some(u.get_ref().clone());
    }
    if s.checks().is_empty() && !s.watchdog {
        return Err(
            at.err(Some(g.span()), format!("VM {vm}: [vm.guest] turns no probe on: set agent, watchdog, tcp or http"))
        );
    }
    Ok(s)
}
