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
        /// Take the [[alert]] targets, [metrics] and [console] of this config file (e.g.
        /// example.toml): the demo pages and serves metrics as it says. The cluster stays the
        /// demo's.
        #[arg(long, short)]
        config: Option<PathBuf>,
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
    /// The console, attached to the supervisor running with this config (`3rc run --headless`,
    /// the service) through its socket. Closing it, or losing the terminal, stops nothing; it
    /// attaches again by itself if the supervisor restarts. Who may do what is the supervisor's
    /// decision (the config's [access]): a viewer's console is read-only.
    Console {
        /// The supervisor's config (its state_dir holds the socket).
        #[arg(long, short, required_unless_present = "socket")]
        config: Option<PathBuf>,
        /// The supervisor's socket, for someone who may not read the config (no P2V wizard then).
        #[arg(long, conflicts_with = "config")]
        socket: Option<PathBuf>,
        #[arg(long)]
        theme: Option<String>,
        /// Read-only console: no key changes the cluster.
        #[arg(long)]
        readonly: bool,
        /// The console's own log file (default: ~/.local/state/3rc/console.log).
        #[arg(long)]
        log_file: Option<PathBuf>,
    },
    /// Send a command to the running supervisor of this config (through its control socket):
    /// migrate VM HOST | start VM | stop VM | restart VM | reinstall VM | arm [VM] | disarm [VM] |
    /// maintenance HOST on|off | confirm-off HOST | ack ALARM | protect VM [KEY=VALUE...] |
    /// unprotect VM | status. Destructive commands ask on a terminal (a yes, or the name typed,
    /// as the console does) unless --yes.
    Ctl {
        #[arg(long, short)]
        config: PathBuf,
        /// Print JSON (for `status`).
        #[arg(long)]
        json: bool,
        /// Do not ask: consent to a destructive command in advance (for scripts).
        #[arg(long)]
        yes: bool,
        #[arg(required = true, trailing_var_arg = true)]
        words: Vec<String>,
    },
    /// Reinstall a VM from scratch (its [vm.reinstall] spec) through the running supervisor:
    /// stop, a new disk from the golden image, define from the template, start. Destructive:
    /// asks for the VM's name on a terminal, unless --yes (as `3rc ctl reinstall VM`).
    Reinstall {
        #[arg(long, short)]
        config: PathBuf,
        vm: String,
        /// Do not ask: the disk of VM is deleted and made anew.
        #[arg(long)]
        yes: bool,
    },
    /// Physical to virtual: copy a machine (over SSH) or a disk into a VM on a host of the
    /// config, start it and protect it. Without --yes: test, inventory and plan only.
    P2v(Box<P2vArgs>),
    /// Say whether a config file can be used (as `3rc run` will read it), and whether it differs
    /// from the last good config the supervisor of its state_dir ran with. Reads nothing else.
    Check {
        #[arg(long, short)]
        config: PathBuf,
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
    /// Print the shell completion script for SHELL, generated from this command line, e.g.
    /// `3rc completions bash > /usr/share/bash-completion/completions/3rc`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), generated from this command line, e.g.
    /// `3rc man > /usr/local/share/man/man1/3rc.1`.
    Man,
}

#[derive(clap::Args, Debug)]
pub struct P2vArgs {
    #[arg(long, short)]
    pub config: PathBuf,
    /// disk:/path/to/image-or-device, or ssh:[user@]host[:port]
    #[arg(long)]
    pub source: String,
    /// Run the commands at the source through `sudo -n`.
    #[arg(long)]
    pub sudo: bool,
    /// SSH private key.
    #[arg(long)]
    pub identity: Option<PathBuf>,
    /// Extra ssh option (repeatable), e.g. "ProxyCommand=ip netns exec lab nc %h %p".
    #[arg(long = "ssh-option")]
    pub ssh_options: Vec<String>,
    /// Disk of the source to copy (repeatable; default: every writable disk).
    #[arg(long = "disk")]
    pub disks: Vec<String>,
    /// NIC of the source whose MAC the VM keeps (repeatable; default: every NIC).
    #[arg(long = "nic")]
    pub nics: Vec<String>,
    /// The host that will run the VM (a [[host]] of the config).
    #[arg(long)]
    pub target: String,
    /// The storage pool of the target host.
    #[arg(long)]
    pub pool: String,
    /// Libvirt network of the target host for the NICs, or bridge:NAME.
    #[arg(long, default_value = "")]
    pub network: String,
    /// VM name (default: the source's host name).
    #[arg(long, default_value = "")]
    pub name: String,
    /// vCPUs (default: the source's CPUs).
    #[arg(long, default_value = "")]
    pub vcpus: String,
    /// Memory, e.g. 2G or 512M (default: the source's).
    #[arg(long, default_value = "")]
    pub memory: String,
    /// auto (qcow2 in file pools, raw in block pools), qcow2 or raw.
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Copy while the source runs, then run --stop-command and copy only the changed blocks.
    #[arg(long, requires = "stop_command")]
    pub warm: bool,
    /// Warm mode: the command that stops the source (run at the source over ssh; here for a disk).
    #[arg(long, default_value = "")]
    pub stop_command: String,
    /// Define the VM but do not start it (it is then not protected).
    #[arg(long)]
    pub no_start: bool,
    /// Do not put the VM under HA.
    #[arg(long)]
    pub no_protect: bool,
    /// HA settings, e.g. "priority=5 max_restart=1 min_uptime=30s".
    #[arg(long, default_value = "")]
    pub policy: String,
    /// virtio disks and NICs (the guest must have the drivers) instead of SATA and e1000.
    #[arg(long)]
    pub virtio: bool,
    /// The VM's serial console file on the target host (default /var/log/libvirt/qemu/NAME-serial.log).
    #[arg(long, default_value = "")]
    pub serial_log: String,
    /// auto (kvm where the host offers it), kvm, or qemu (TCG: no hardware acceleration).
    #[arg(long, default_value = "auto")]
    pub domain_type: String,
    /// Run the plan (without it: print the inventory and the plan, change nothing).
    #[arg(long)]
    pub yes: bool,
    /// Print the inventory and the plan, change nothing (even with --yes).
    #[arg(long)]
    pub dry_run: bool,
}

impl P2vArgs {
    pub fn answers(&self) -> crate::p2v::plan::Answers {
        crate::p2v::plan::Answers {
            source: self.source.clone(),
            sudo: self.sudo,
            identity: self.identity.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            ssh_options: self.ssh_options.clone(),
            name: self.name.clone(),
            vcpus: self.vcpus.clone(),
            memory: self.memory.clone(),
            disks: self.disks.clone(),
            nics: self.nics.clone(),
            host: self.target.clone(),
            pool: self.pool.clone(),
            network: self.network.clone(),
            format: self.format.clone(),
            warm: self.warm,
            stop_command: self.stop_command.clone(),
            start: !self.no_start,
            protect: !self.no_protect && !self.no_start,
            policy: self.policy.clone(),
            virtio: self.virtio,
            serial_log: self.serial_log.clone(),
            domain_type: self.domain_type.clone(),
        }
    }
}
