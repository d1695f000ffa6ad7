//! Command-line interface of the `3rc` binary.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "3rc", version, about = "3RC: VM high availability over libvirt, with an on-call console")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run the console on the embedded demo cluster (libvirt's test driver, no daemon), with a
    /// fault injector that crashes VMs and hosts now and then.
    Demo {
        /// Folder holding demo/ (the cluster) and example.toml.
        #[arg(long)]
        assets: Option<PathBuf>,
        /// Theme name (a file in themes/) or path.
        #[arg(long)]
        theme: Option<String>,
        /// Start with the fault injector off (the `f` key turns it on).
        #[arg(long)]
        no_faults: bool,
        /// Seed of the fault injector: same seed, same faults.
        #[arg(long, default_value_t = 3)]
        seed: u64,
        /// Read-only console: no key changes the cluster.
        #[arg(long)]
        readonly: bool,
        /// Log file (default: 3rc-demo.log in the system's temporary folder).
        #[arg(long)]
        log_file: Option<PathBuf>,
    },
    /// Supervise the cluster described by a config file.
    Run {
        #[arg(long, short)]
        config: PathBuf,
        /// No console: log to stderr and the log file.
        #[arg(long)]
        headless: bool,
        #[arg(long)]
        theme: Option<String>,
        /// Read-only console: no key changes the cluster.
        #[arg(long)]
        readonly: bool,
        /// Log file (default: 3rc.log in the state_dir, or in the current folder).
        #[arg(long)]
        log_file: Option<PathBuf>,
    },
    /// Send a command to the running supervisor of this config (through its control socket):
    /// migrate VM HOST | start VM | stop VM | restart VM | reinstall VM | arm [VM] | disarm [VM] |
    /// maintenance HOST on|off | confirm-off HOST | ack ALARM | status
    Ctl {
        #[arg(long, short)]
        config: PathBuf,
        /// Print JSON (for `status`).
        #[arg(long)]
        json: bool,
        #[arg(required = true, trailing_var_arg = true)]
        words: Vec<String>,
    },
    /// Reinstall a VM from scratch (its [vm.reinstall] spec) through the running supervisor:
    /// stop, a new disk from the golden image, define from the template, start. Destructive:
    /// asks for the VM's name on a terminal, unless --yes.
    Reinstall {
        #[arg(long, short)]
        config: PathBuf,
        vm: String,
        /// Do not ask: the disk of VM is deleted and made anew.
        #[arg(long)]
        yes: bool,
    },
    /// Probe every host once and print the cluster (read-only).
    Status {
        #[arg(long, short)]
        config: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run a simulator scenario (a folder with cluster.toml and commands) and print its log;
    /// or, with --config and --what-if, say where every VM of a cluster would go, and why.
    Simulate {
        /// Scenario folder, e.g. tests/scenarios/host-power-off-failover.
        case: Option<PathBuf>,
        /// The cluster's config (probed once, read-only, as the starting point).
        #[arg(long, short, requires = "what_if")]
        config: Option<PathBuf>,
        /// The fault to simulate: "host hv2 down", "host hv2 isolated", "host hv2 hangs",
        /// "host hv2 maintenance", "vm web1 crash"; several separated by ';'.
        #[arg(long, requires = "config")]
        what_if: Option<String>,
    },
}
