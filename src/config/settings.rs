//! The supervision loop's settings and the operations' time limits: plain data, read from the
//! `[defaults]` of the config file (`config::load`), with the defaults a config without them
//! gets.

use std::time::Duration;

/// Loop settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Time between two cycles.
    pub interval: Duration,
    /// How long a host probe may take before it counts as failed.
    pub probe_timeout: Duration,
    /// Domain XML reads per cycle for the inventory (spreads the start-up cost on big clusters).
    pub xml_reads_per_cycle: usize,
    /// Ask the hosts for hints between probes (libvirt lifecycle events, the close callback),
    /// which bring the next cycle forward (`supervisor/hints.rs`). Off: polling only.
    pub events: bool,
    /// How often each online host's fence agent is asked for its status (`supervisor/fencecheck.rs`);
    /// `None`: never.
    pub fence_check: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(400),
            xml_reads_per_cycle: 32,
            events: true,
            fence_check: Some(Duration::from_secs(300)),
        }
    }
}

/// Time limits for operations.
#[derive(Clone, Debug)]
pub struct Timeouts {
    /// Each hypervisor call inside an action.
    pub call: Duration,
    /// A graceful shutdown before the domain is destroyed.
    pub stop_grace: Duration,
    /// One fence agent call.
    pub fence: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { call: Duration::from_secs(60), stop_grace: Duration::from_secs(30), fence: Duration::from_secs(60) }
    }
}
