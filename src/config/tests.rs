use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/3rc/cluster.toml"))
}

const GOOD: &str = r#"
[defaults]
interval = "500ms"
events = false
fail_threshold = 2
max_restart = 3
restart_window = "5m"

[host_defaults]
ok_threshold = 4

[placement]
cpu_overcommit = 2.0

[[host]]
name = "hv1"
uri = "test://{config_dir}/hv1.xml"
fence = { agent = "demo" }

[[host]]
name = "hv2"
uri = "qemu+ssh://root@hv2/system"
fence = { agent = "fence_ipmilan", options = { ip = "10.0.0.2", username = "admin", password_file = "/etc/3rc/ipmi" } }

[[vm]]
name = "web1"
priority = 50
anti_affinity = "web"
policy = { max_restart = 1 }

[[vm]]
name = "db1"
preferred_host = "hv2"
"#;

#[test]
fn a_good_file_is_understood() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.settings.interval, Duration::from_millis(500));
    assert!(!c.settings.events);
    assert!(parse(&GOOD.replace("events = false\n", "")).unwrap().settings.events, "events are on by default");
    assert_eq!(c.hosts[0].uri, "test:///etc/3rc/hv1.xml");
    // A bare file name is in the current folder (which tests run in), not in the root.
    let c = Config::parse(GOOD, Path::new("cluster.toml")).unwrap();
    let cwd = std::fs::canonicalize(".").unwrap();
    assert_eq!(c.hosts[0].uri, format!("test://{}/hv1.xml", cwd.display()));
    assert_eq!(c.hosts[1].fence.as_ref().unwrap().options["ip"], "10.0.0.2");
    assert_eq!(c.cluster.host_policy.ok_threshold, 4);
    assert_eq!(c.cluster.placement.cpu_overcommit, 2.0);
    let web1 = &c.cluster.vms[0];
    assert_eq!((web1.policy.max_restart, web1.policy.fail_threshold, web1.policy.reinstall), (1, 2, false));
    assert_eq!(web1.policy.restart_window, Duration::from_secs(300));
    let db1 = &c.cluster.vms[1];
    assert_eq!((db1.policy.max_restart, db1.priority), (3, 0));
    assert_eq!(db1.preferred_host.as_deref(), Some("hv2"));
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn errors_name_file_line_and_column() {
    let e = err("[[host]]\nname = \"hv1\"\nuri = \"test:///x\"\n\n[[vm]]\nname = \"a\"\nprioritty = 3\n");
    assert!(e.starts_with("/etc/3rc/cluster.toml:7:1: unknown field `prioritty`"), "{e}");
    let e = err("[defaults]\ninterval = \"3 weeks\"\n[[host]]\nname = \"hv1\"\nuri = \"test:///x\"\n");
    assert!(e.starts_with("/etc/3rc/cluster.toml:2:12: invalid duration"), "{e}");
    let e = err("[[host]]\nname = \"hv1\"\nuri = \"test:///x\"\n[[host]]\nname = \"hv1\"\nuri = \"test:///y\"\n");
    assert_eq!(e, "/etc/3rc/cluster.toml:5:8: host hv1 is defined twice");
}

#[test]
fn semantic_errors_point_at_the_value() {
    let host = "[[host]]\nname = \"hv1\"\nuri = \"test:///x\"\n";
    let e = err(&format!("{host}[[vm]]\nname = \"a\"\npreferred_host = \"hv9\"\n"));
    assert_eq!(e, "/etc/3rc/cluster.toml:6:18: VM a: preferred_host hv9 is not a [[host]]");
    let e = err(&format!("[defaults]\nfail_threshold = 0\n{host}"));
    assert_eq!(e, "/etc/3rc/cluster.toml:2:18: fail_threshold must be at least 1");
    let e = err(&format!("{host}[[vm]]\nname = \"bad name\"\n"));
    assert!(e.contains(":5:8: invalid VM name"), "{e}");
    let e = err(&format!("[placement]\ncpu_overcommit = -1.0\n{host}"));
    assert!(e.contains(":2:18: placement.cpu_overcommit must be between"), "{e}");
    let e = err("[[host]]\nname = \"hv1\"\nuri = \"nonsense\"\n");
    assert!(e.contains(":3:7: host hv1: invalid libvirt URI"), "{e}");
    assert!(err("").contains("no [[host]] defined"));
    let e = err("[[host]]\nname = \"hv1\"\nuri = \"test:///x\"\nfence = { agent = \"fence_ipmilan\", options = { action = \"reboot\" } }\n");
    assert!(e.contains(":4:9: host hv1: fence option \"action\" is reserved"), "{e}");
    let e =
        err("[quorum]\nwitnesses = [\"gateway\", \"icmp:10.0.0.1\"]\n[[host]]\nname = \"hv1\"\nuri = \"test:///x\"\n");
    assert!(e.contains(":2:25: quorum.witnesses: unknown witness \"icmp:10.0.0.1\""), "{e}");
    let e = err("[[host]\nname = 1");
    assert!(e.starts_with("/etc/3rc/cluster.toml:1:"), "{e}");
}

#[test]
fn the_votes_are_the_hosts_and_the_witnesses_and_too_few_are_said() {
    let host = |n: &str| format!("[[host]]\nname = \"{n}\"\nuri = \"test:///x\"\n");
    // Default: the gateway.
    let c = parse(&format!("{}{}", host("hv1"), host("hv2"))).unwrap();
    assert_eq!(c.cluster.witnesses, ["gateway"]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let c = parse(&format!("[quorum]\nwitnesses = []\n{}{}", host("hv1"), host("hv2"))).unwrap();
    assert!(c.cluster.witnesses.is_empty());
    assert!(c.warnings[0].contains("2 host(s) and 0 witness(es) make 2 votes"), "{:?}", c.warnings);
    let c = parse(&format!("[quorum]\nwitnesses = [\"tcp:q1:22\", \"ping:10.0.0.1\"]\n{}", host("hv1"))).unwrap();
    assert_eq!(c.cluster.witnesses, ["tcp:q1:22", "ping:10.0.0.1"]);
}

#[test]
fn the_shipped_example_configs_are_valid() {
    for f in ["assets/example.toml", "assets/demo/cluster.toml"] {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(f);
        if let Err(e) = Config::load(&p) {
            panic!("{f}: {e}");
        }
    }
}

#[test]
fn the_examples_commented_alert_targets_are_valid_once_uncommented() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/example.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let mut out = String::new();
    let mut in_alert = false;
    for line in text.lines() {
        in_alert = line == "# [[alert]]" || (in_alert && line.starts_with("# ") && !line.starts_with("# ["));
        out += match in_alert {
            true => &line[2..],
            false => line,
        };
        out.push('\n');
    }
    let c = Config::parse(&out, &p).unwrap_or_else(|e| panic!("{e}"));
    let shown: Vec<String> = c.alerts.iter().map(|a| a.shown()).collect();
    assert_eq!(
        shown,
        [
            "Alertmanager at http://127.0.0.1:9093",
            "agent /usr/local/lib/3rc/alert.sh",
            "webhook https://hooks.example.org/3rc"
        ]
    );
}

#[test]
fn a_reinstall_spec_is_read_with_its_template_and_seed() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/example.toml");
    let c = Config::load(&p).unwrap();
    let web1 = c.cluster.vms.iter().find(|v| v.name == "web1").unwrap();
    let r = web1.reinstall.as_ref().unwrap();
    assert_eq!(
        (r.golden().as_str(), r.mode, r.disk_pool.as_str(), r.disk_volume.as_str()),
        ("golden/debian12.qcow2", crate::core::DiskMode::Overlay, "vms", "web1.qcow2")
    );
    let seed = r.seed.as_ref().unwrap();
    assert_eq!(seed.hostname, "web1");
    assert!(seed.network_config.as_deref().unwrap().contains("dhcp4: true"));
    assert!(seed.first_boot.as_deref().unwrap().starts_with("#!/bin/sh"));
}

#[test]
fn bad_reinstall_specs_say_what_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let t = "<domain><devices><disk type='volume' device='disk'><source pool='vms' volume='a.qcow2'/></disk></devices></domain>";
    std::fs::write(dir.path().join("a.xml"), t).unwrap();
    std::fs::write(dir.path().join("b.xml"), t.replace("<devices>", "<name>b</name><devices>")).unwrap();
    let check = |vm: &str| {
        let text = format!("[[host]]\nname = \"hv1\"\nuri = \"test:///default\"\n[[vm]]\nname = \"a\"\n{vm}");
        Config::parse(&text, &dir.path().join("c.toml")).map(|_| ()).map_err(|e| e.to_string())
    };
    assert!(check("[vm.reinstall]\npool = \"golden\"\nvolume = \"g.qcow2\"\ntemplate = \"a.xml\"").is_ok());
    let e = check("policy = { reinstall = true }").unwrap_err();
    assert!(
        e.ends_with(
            "c.toml:5:8: VM a: policy reinstall = true, but it has no [vm.reinstall] spec (golden image and template)"
        ),
        "{e}"
    );
    let e = check("[vm.reinstall]\npool = \"golden\"\nvolume = \"g.qcow2\"\ntemplate = \"b.xml\"").unwrap_err();
    assert!(e.contains(":9:12: VM a: template ") && e.contains("names the domain \"b\", not \"a\""), "{e}");
    let e = check("[vm.reinstall]\npool = \"golden\"\nvolume = \"g.qcow2\"\ntemplate = \"none.xml\"").unwrap_err();
    assert!(e.contains(":9:12: VM a: reinstall.template ") && e.contains("cannot read"), "{e}");
    let e = check("[vm.reinstall]\npool = \"vms\"\nvolume = \"a.qcow2\"\ntemplate = \"a.xml\"").unwrap_err();
    assert!(e.contains("its disk is the golden image vms/a.qcow2 itself"), "{e}");
    let e = check("[vm.reinstall]\npool = \"golden\"\nvolume = \"g.qcow2\"\ntemplate = \"a.xml\"\nmode = \"copy\"")
        .unwrap_err();
    assert!(e.contains(":10:8: VM a: reinstall.mode \"copy\": expected \"overlay\" or \"clone\""), "{e}");
    let e = check("[vm.reinstall]\npool = \"golden\"\nvolume = \"g.qcow2\"\ntemplate = \"a.xml\"\n[vm.reinstall.seed]\nhostname = \"bad_name\"").unwrap_err();
    assert!(e.contains("seed.hostname \"bad_name\" is not a valid host name"), "{e}");
    let e =
        check("[vm.reinstall]\npool = \"golden\"\nvolume = \"g.qcow2\"\ntemplate = \"a.xml\"\ncolour = 1").unwrap_err();
    assert!(e.contains("unknown field `colour`"), "{e}");
}

#[test]
fn a_vm_protected_at_run_time_gets_the_defaults_and_its_overrides_checked_like_the_file() {
    let cfg = parse(GOOD).unwrap();
    let spec =
        cfg.protect_spec("p2v1", &["priority=7".into(), "min_uptime=2s".into(), "anti_affinity=web".into()]).unwrap();
    assert_eq!(spec.priority, 7);
    assert_eq!(spec.anti_affinity.as_deref(), Some("web"));
    assert_eq!(spec.policy.min_uptime, Duration::from_secs(2));
    assert_eq!(spec.policy.max_restart, 3, "from [defaults]");
    assert_eq!(spec.policy.fail_threshold, 2, "from [defaults]");
    let err = |s: &[&str]| cfg.protect_spec("p2v1", &s.iter().map(|x| x.to_string()).collect::<Vec<_>>()).unwrap_err();
    assert!(err(&["max_restarts=1"]).contains("unknown field `max_restarts`"), "{}", err(&["max_restarts=1"]));
    assert!(err(&["min_uptime=fast"]).contains("invalid duration"), "{}", err(&["min_uptime=fast"]));
    assert_eq!(err(&["preferred_host=hv9"]), "protect p2v1: preferred_host hv9 is not a [[host]]");
    assert_eq!(err(&["fail_threshold=0"]), "protect p2v1: fail_threshold must be at least 1");
    assert_eq!(err(&["max_restart"]), "\"max_restart\": expected KEY=VALUE, like max_restart=1");
    assert!(cfg.protect_spec("bad name", &[]).unwrap_err().contains("invalid VM name"));
}

#[test]
fn the_storage_alarm_and_the_resume_wait_30s_unless_told() {
    let host = "[[host]]\nname = \"hv1\"\nuri = \"test:///x\"\n";
    assert_eq!(parse(host).unwrap().cluster.host_policy.storage_alarm_after, Duration::from_secs(30));
    let c = parse(&format!("[host_defaults]\nstorage_alarm_after = \"2m\"\n{host}")).unwrap();
    assert_eq!(c.cluster.host_policy.storage_alarm_after, Duration::from_secs(120));
    // 3RC tries to resume them after 30 s by default; "0s": never.
    assert_eq!(parse(host).unwrap().cluster.host_policy.storage_resume_after, Some(Duration::from_secs(30)));
    let never = parse(&format!("[host_defaults]\nstorage_resume_after = \"0s\"\n{host}")).unwrap();
    assert_eq!(never.cluster.host_policy.storage_resume_after, None);
}

#[test]
fn a_soft_fence_and_the_unmanageable_policy_are_read_and_checked() {
    let text = "[defaults]\nfence_check = \"2m\"\n[host_defaults]\nunmanageable_fence_after = \"15m\"\n\
                [[host]]\nname = \"hv1\"\nuri = \"test:///x\"\n\
                soft_fence = { command = [\"ssh\", \"root@hv1\", \"systemctl\", \"restart\", \"libvirtd\"] }\n";
    let c = parse(text).unwrap();
    let sf = c.hosts[0].soft_fence.as_ref().unwrap();
    assert_eq!(sf.command, ["ssh", "root@hv1", "systemctl", "restart", "libvirtd"]);
    assert_eq!((sf.program(), sf.timeout), ("ssh", Duration::from_secs(30)));
    assert!(c.cluster.hosts[0].soft_fence);
    assert_eq!(c.cluster.host_policy.unmanageable_fence_after, Some(Duration::from_secs(900)));
    assert_eq!(c.settings.fence_check, Some(Duration::from_secs(120)));
    // The defaults: no soft fence, never a power fence for an unmanageable host, checks every 5 min.
    let plain = parse("[[host]]\nname = \"hv1\"\nuri = \"test:///x\"\n").unwrap();
    assert!(plain.hosts[0].soft_fence.is_none() && !plain.cluster.hosts[0].soft_fence);
    assert_eq!(plain.cluster.host_policy.unmanageable_fence_after, None);
    assert_eq!(plain.settings.fence_check, Some(Duration::from_secs(300)));
    let off = parse("[defaults]\nfence_check = \"0s\"\n[[host]]\nname = \"hv1\"\nuri = \"test:///x\"\n").unwrap();
    assert_eq!(off.settings.fence_check, None);

    let host = "[[host]]\nname = \"hv1\"\nuri = \"test:///x\"\n";
    let e = err(&format!("{host}soft_fence = {{ command = [] }}\n"));
    assert!(e.contains(":4:26: host hv1: soft_fence.command is empty"), "{e}");
    let e = err(&format!("{host}soft_fence = {{ command = [\"systemctl restart libvirtd\"] }}\n"));
    assert!(e.contains("host hv1: soft_fence.command starts with \"systemctl restart libvirtd\""), "{e}");
    let e = err(&format!("{host}soft_fence = {{ command = [\"true\"], timeout = \"0s\" }}\n"));
    assert!(e.contains(":4:14: host hv1: soft_fence.timeout must be more than 0s"), "{e}");
    let e = err(&format!("{host}soft_fence = {{ cmd = [\"true\"] }}\n"));
    assert!(e.contains("unknown field `cmd`"), "{e}");
}

#[test]
fn files_holding_secrets_that_others_can_read_get_a_warning_at_load() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (cfg, pw) = (dir.path().join("c.toml"), dir.path().join("ipmi.pw"));
    std::fs::write(&pw, "hunter2\n").unwrap();
    let text = |opts: &str| {
        format!(
            "[quorum]\nwitnesses = []\n[[host]]\nname = \"hv1\"\nuri = \"test:///default\"\n\
             fence = {{ agent = \"fence_ipmilan\", options = {{ ip = \"10.0.0.2\", {opts} }} }}\n"
        )
    };
    let mode = |p: &std::path::Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    let warnings = |t: String| {
        std::fs::write(&cfg, t).unwrap();
        let all = Config::load(&cfg).unwrap().warnings;
        all.into_iter().filter(|w| w.contains("readable by other users")).collect::<Vec<_>>()
    };
    mode(&pw, 0o644);
    let w = warnings(text("password = \"hunter2\", community = \"x\""));
    mode(&cfg, 0o644);
    let w2 = warnings(text("password = \"hunter2\", community = \"x\""));
    assert!(w.len() == 1 && w2.len() == 1, "{w:?} {w2:?}");
    assert!(w[0].contains("is readable by other users (mode 0644) and holds secrets (host hv1 fence option community, host hv1 fence option password)"), "{w:?}");
    assert!(!w.join(" ").contains("hunter2"), "never the secret itself");
    mode(&cfg, 0o600);
    assert!(warnings(text("password = \"hunter2\"")).is_empty(), "private: no warning");
    mode(&cfg, 0o644);
    let w = warnings(text(&format!("password_file = \"{}\"", pw.display())));
    assert!(
        w.len() == 1 && w[0].contains("(host hv1 fence option password_file) is readable by other users (mode 0644)"),
        "{w:?}"
    );
    mode(&pw, 0o600);
    assert!(warnings(text(&format!("password_file = \"{}\"", pw.display()))).is_empty());
}

#[test]
fn access_lists_users_and_groups() {
    let cfg =
        parse(&format!("{GOOD}\n[access]\noperators = [\"alice\", \"@oncall\"]\nviewers = [\"@staff\"]\n")).unwrap();
    assert_eq!(cfg.access.operators, vec![Principal::User("alice".into()), Principal::Group("oncall".into())]);
    assert_eq!(cfg.access.viewers, vec![Principal::Group("staff".into())]);
    assert!(cfg.access.opens_the_socket());
    assert!(!parse(GOOD).unwrap().access.opens_the_socket(), "no [access]: root only");
}

#[test]
fn access_errors_name_the_entry() {
    let e = parse(&format!("{GOOD}\n[access]\noperators = [\"alice\"]\nviewers = [\"bob\", \"alice\"]\n")).unwrap_err();
    assert!(e.to_string().contains("alice is both an operator and a viewer"), "{e}");
    assert!(e.line > 0, "{e}");
    let e = parse(&format!("{GOOD}\n[access]\nviewers = [\"@\"]\n")).unwrap_err();
    assert!(e.to_string().contains("access.viewers: \"@\" is not a user name or @group"), "{e}");
    let e = parse(&format!("{GOOD}\n[access]\noperators = [\"al ice\"]\n")).unwrap_err();
    assert!(e.to_string().contains("access.operators"), "{e}");
    let e = parse(&format!("{GOOD}\n[access]\nadmins = [\"alice\"]\n")).unwrap_err();
    assert!(e.to_string().contains("admins"), "{e}");
}

#[test]
fn metrics_listen_is_an_address_and_a_port() {
    assert_eq!(parse(GOOD).unwrap().metrics, None, "off by default");
    let cfg = parse(&format!("{GOOD}\n[metrics]\nlisten = \"127.0.0.1:9633\"\n")).unwrap();
    assert_eq!(cfg.metrics, Some("127.0.0.1:9633".parse().unwrap()));
    let e = parse(&format!("{GOOD}\n[metrics]\nlisten = \"localhost\"\n")).unwrap_err();
    assert!(e.to_string().contains("metrics.listen \"localhost\"") && e.line > 0, "{e}");
}

#[test]
fn alert_targets_are_checked_and_never_show_their_secrets() {
    let host = "[[host]]\nname = \"hv1\"\nuri = \"test:///x\"\n";
    let c = parse(&format!(
        "{host}[[alert]]\nalertmanager = \"http://am:pw@127.0.0.1:9093\"\n\
         [[alert]]\nagent = \"/usr/local/bin/page\"\nrecipient = \"oncall@example.com\"\nkinds = [\"alarm\", \"host\"]\n\
         min_severity = \"info\"\ntimeout = \"5s\"\n\
         [[alert]]\nwebhook = \"https://hooks.example.com/3rc?token=abc\"\nheaders = {{ Authorization = \"Bearer xyz\" }}\nqueue = 10\n"
    ))
    .unwrap();
    let shown: Vec<String> = c.alerts.iter().map(|a| a.shown()).collect();
    assert_eq!(
        shown,
        [
            "Alertmanager at http://***@127.0.0.1:9093",
            "agent /usr/local/bin/page",
            "webhook https://hooks.example.com/3rc?***"
        ]
    );
    let debug = format!("{c:?}");
    assert!(!debug.contains("pw@") && !debug.contains("abc") && !debug.contains("xyz"), "{debug}");
    let agent = &c.alerts[1];
    assert!(agent.wants("host", crate::core::Severity::Info) && !agent.wants("vm", crate::core::Severity::Critical));
    assert_eq!(agent.timeout, Duration::from_secs(5));
    assert!(c.alerts[0].wants("alarm", crate::core::Severity::Warning));
    assert!(!c.alerts[0].wants("alarm", crate::core::Severity::Info), "warning and above by default");
    assert_eq!((c.alerts[2].queue, c.alerts[2].kinds.clone()), (10, vec!["alarm".to_string()]));

    for (bad, says) in [
        ("alertmanager = \"http://a:9093\"\nwebhook = \"http://b\"\n", "exactly one target"),
        ("min_severity = \"info\"\n", "exactly one target"),
        ("agent = \"page.sh\"\n", "absolute path"),
        ("webhook = \"ftp://x\"\n", "http:// or https:// URL"),
        ("webhook = \"http://x\"\nkinds = [\"alarms\"]\n", "\"alarms\" is not a kind"),
        ("alertmanager = \"http://x\"\nkinds = [\"host\"]\n", "gets alarms only"),
        ("webhook = \"http://x\"\nrecipient = \"me\"\n", "recipient is for an agent"),
        ("agent = \"/bin/true\"\nheaders = { A = \"b\" }\n", "headers are for a webhook"),
        ("agent = \"/bin/true\"\ntimeout = \"1h\"\n", "between 100ms and 10m"),
        ("agent = \"/bin/true\"\nqueue = 0\n", "between 1 and 100000"),
    ] {
        let e = err(&format!("{host}[[alert]]\n{bad}"));
        assert!(e.contains(says), "{bad}: {e}");
    }
    let e = err(&format!("{host}[[alert]]\nagent = \"/bin/true\"\n[[alert]]\nagent = \"/bin/true\"\n"));
    assert!(e.contains("agent /bin/true is named twice"), "{e}");
    let e = err(&format!("{host}[[alert]]\nwebhook = \"http://u:secret@x\"\nkinds = []\n"));
    assert!(e.contains("kinds is empty") && !e.contains("secret"), "{e}");
}

#[test]
fn ha_names_etcd_this_instance_and_a_ttl() {
    let host = "[[host]]\nname = \"hv1\"\nuri = \"test:///x\"\n";
    let c =
        parse(&format!("{host}[ha]\netcd = [\"http://10.0.0.1:2379\", \"http://10.0.0.2:2379\"]\nname = \"sup1\"\n"))
            .unwrap();
    let ha = c.ha.unwrap();
    assert_eq!(ha.endpoints, ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]);
    assert_eq!((ha.name.as_str(), ha.ttl, ha.prefix.as_str()), ("sup1", Duration::from_secs(2), "/3rc/cluster"));
    assert!(parse(host).unwrap().ha.is_none(), "alone without [ha]");
    for (bad, says) in [
        ("etcd = []\nname = \"a\"\n", "ha.etcd is empty"),
        ("etcd = [\"10.0.0.1:2379\"]\nname = \"a\"\n", "an etcd client URL"),
        ("etcd = [\"http://x:1\"]\nname = \"a b\"\n", "ha.name"),
        ("etcd = [\"http://x:1\"]\nname = \"a\"\nttl = \"1s\"\n", "between 2s"),
        ("etcd = [\"http://x:1\"]\nname = \"a\"\nprefix = \"3rc/\"\n", "ha.prefix"),
        ("name = \"a\"\n", "missing field `etcd`"),
    ] {
        let e = err(&format!("{host}[ha]\n{bad}"));
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn host_rules_are_read_and_their_conflicts_name_both_rules() {
    let hosts = "[[host]]\nname = \"hv1\"\nuri = \"test:///x\"\n[[host]]\nname = \"hv2\"\nuri = \"test:///x\"\n\
                 [[host]]\nname = \"hv3\"\nuri = \"test:///x\"\n";
    let vm = |rules: &str| format!("{hosts}[[vm]]\nname = \"db1\"\n{rules}");
    let c = parse(&vm("hosts = [\"hv1\", \"hv2\"]\nprefer = [[\"hv2\"], [\"hv1\"]]\n")).unwrap();
    assert_eq!(c.cluster.vms[0].hosts, ["hv1", "hv2"]);
    assert_eq!(c.cluster.vms[0].prefer, [vec!["hv2".to_string()], vec!["hv1".to_string()]]);
    let err = |rules: &str| parse(&vm(rules)).unwrap_err().to_string();
    assert!(err("hosts = [\"hv9\"]\n").contains("hosts names hv9, which is not a [[host]]"));
    assert!(err("hosts = []\n").contains("nowhere to run"));
    let e = err("hosts = [\"hv1\"]\npreferred_host = \"hv2\"\n");
    assert!(e.contains("preferred_host hv2 contradicts hosts = [hv1]"), "{e}");
    let e = err("hosts = [\"hv1\", \"hv2\"]\nprefer = [[\"hv3\"]]\n");
    assert!(e.contains("prefer names hv3, which contradicts hosts = [hv1, hv2]"), "{e}");
    assert!(err("prefer = [[\"hv1\"], [\"hv1\", \"hv2\"]]\n").contains("prefer names hv1 in two tiers"));
    assert!(err("prefer = [[]]\n").contains("prefer tier 1 is empty"));
    let two = format!(
        "{hosts}[[vm]]\nname = \"a\"\nanti_affinity = \"g\"\nhosts = [\"hv1\"]\n\
         [[vm]]\nname = \"b\"\nanti_affinity = \"g\"\nhosts = [\"hv1\"]\n"
    );
    let g = parse(&two).unwrap_err().to_string();
    assert!(
        g.contains("VMs a, b: anti_affinity group g keeps them on different hosts, but their hosts rules allow only 1"),
        "{g}"
    );
    // Each says where: the file, line and column of the rule.
    assert_eq!(
        e,
        "/etc/3rc/cluster.toml:13:10: VM db1: prefer names hv3, which contradicts hosts = [hv1, hv2] (it must run on \
         those)"
    );
}

#[test]
fn guest_probes_are_read_and_bad_ones_say_what_and_where() {
    let head = "[[host]]\nname = \"hv1\"\nuri = \"test:///x\"\n[[vm]]\nname = \"web1\"\n[vm.guest]\n";
    let c = parse(&format!(
        "{head}agent = true\nwatchdog = true\ntcp = \"10.0.0.5:22\"\nhttp = \"http://10.0.0.5:8080/health\"\n\
         timeout = \"2s\"\nmin_uptime = \"5m\"\nmax_restarts = 1\nwindow = \"2h\"\n"
    ))
    .unwrap();
    let g = c.cluster.vms[0].guest.as_deref().unwrap();
    assert!(g.agent && g.watchdog);
    assert_eq!((g.tcp.as_deref(), g.http.as_deref()), (Some("10.0.0.5:22"), Some("http://10.0.0.5:8080/health")));
    assert_eq!((g.timeout, g.min_uptime, g.max_restarts), (Duration::from_secs(2), Duration::from_secs(300), 1));
    assert_eq!((g.window, g.agent_grace), (Duration::from_secs(7200), Duration::from_secs(60)));
    // None by default.
    let plain = parse("[[host]]\nname = \"hv1\"\nuri = \"test:///x\"\n[[vm]]\nname = \"web1\"\n").unwrap();
    assert_eq!(plain.cluster.vms[0].guest, None);
    let err = |keys: &str| parse(&format!("{head}{keys}")).unwrap_err().to_string();
    let e = err("tcp = \"10.0.0.5\"\n");
    assert_eq!(
        e,
        "/etc/3rc/cluster.toml:7:7: VM web1: [vm.guest] tcp \"10.0.0.5\" is not address:port (like \"10.0.0.5:22\")"
    );
    assert!(err("http = \"https://web1/\"\n").contains("only http:// URLs can be checked"));
    assert!(err("agent = true\ntimeout = \"0s\"\n").contains("[vm.guest] timeout must be longer than 0"));
    assert!(err("agent = false\n").contains("turns no probe on"));
    assert!(err("ping = true\n").contains("unknown field `ping`"));
}

#[test]
fn start_order_is_read_groups_become_vms_and_cycles_are_errors() {
    let hosts = "[[host]]\nname = \"hv1\"\nuri = \"test:///x\"\n";
    let c = parse(&format!(
        "{hosts}[[vm]]\nname = \"db1\"\nanti_affinity = \"db\"\nready = \"agent\"\n[vm.guest]\nagent = true\n\
         [[vm]]\nname = \"db2\"\nanti_affinity = \"db\"\n\
         [[vm]]\nname = \"app1\"\nafter = [\"db\", \"db1\"]\nafter_wait = \"2m\"\n"
    ))
    .unwrap();
    let app = &c.cluster.vms[2];
    assert_eq!(app.after, ["db1", "db2"], "the group's VMs, once each");
    assert_eq!(app.after_wait, Duration::from_secs(120));
    assert_eq!(c.cluster.vms[0].ready, crate::core::Readiness::Agent);
    assert_eq!(c.cluster.vms[1].after_wait, Duration::from_secs(300), "5 min by default");
    let err = |vms: &str| parse(&format!("{hosts}{vms}")).unwrap_err().to_string();
    let e = err("[[vm]]\nname = \"a\"\nafter = [\"b\"]\n[[vm]]\nname = \"b\"\nafter = [\"c\"]\n[[vm]]\nname = \"c\"\nafter = [\"a\"]\n");
    assert_eq!(e, "/etc/3rc/cluster.toml:6:9: start order cycle: a -> b -> c -> a");
    assert!(err("[[vm]]\nname = \"a\"\nafter = [\"zz\"]\n").contains("after names zz, which is neither a VM nor"));
    assert!(err("[[vm]]\nname = \"a\"\nafter = [\"a\"]\n").contains("after names the VM itself"));
    assert!(err("[[vm]]\nname = \"a\"\nready = \"agent\"\n").contains("needs its guest agent probe"));
    assert!(err("[[vm]]\nname = \"a\"\nready = \"up\"\n").contains("expected \"running\", \"agent\" or \"probes\""));
}

#[test]
fn spare_capacity_is_n_plus_one_by_default_and_bounded() {
    let hosts = "[[host]]\nname = \"hv1\"\nuri = \"test:///x\"\n";
    let c = parse(hosts).unwrap();
    assert_eq!((c.cluster.placement.spare_hosts, c.cluster.placement.spare_enforce), (1, false));
    let c = parse(&format!("{hosts}[placement]\nspare_hosts = 2\nspare_enforce = true\n")).unwrap();
    assert_eq!((c.cluster.placement.spare_hosts, c.cluster.placement.spare_enforce), (2, true));
    let e = parse(&format!("{hosts}[placement]\nspare_hosts = 9\n")).unwrap_err().to_string();
    assert!(e.contains("placement.spare_hosts must be between 0 and 4, got 9") && e.contains(":5:15"), "{e}");
}
