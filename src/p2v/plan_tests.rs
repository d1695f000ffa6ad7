use super::*;
use crate::p2v::source::{Disk, Nic};

pub(crate) fn inventory() -> Inventory {
    let disk = |name: &str, size: u64, ro: bool| Disk {
        name: name.into(),
        path: format!("/dev/{name}"),
        size,
        model: Some("ST2000".into()),
        serial: Some(format!("SER-{name}")),
        readonly: ro,
        mounted: Vec::new(),
    };
    Inventory {
        hostname: "srv1.example.com".into(),
        cpus: Some(4),
        memory_kib: Some(8 * 1024 * 1024),
        disks: vec![disk("sda", 10 << 30, false), disk("sdb", 20 << 30, false), disk("sr0", 1 << 30, true)],
        nics: vec![Nic { name: "eno1".into(), mac: "3c:ec:ef:00:00:01".into() }],
    }
}

pub(crate) fn facts() -> TargetFacts {
    let pool = |name: &str, kind: &str, free: u64| PoolInfo {
        name: name.into(),
        kind: kind.into(),
        active: true,
        capacity: free * 2,
        available: free,
    };
    TargetFacts {
        host: "hv1".into(),
        pools: vec![
            (pool("default", "dir", 100 << 30), vec!["old.qcow2".into(), "srv1-sda.qcow2".into()]),
            (pool("vg0", "logical", 50 << 30), vec![]),
            (pool("tiny", "dir", 5 << 30), vec![]),
        ],
        networks: vec!["default".into(), "lan".into()],
        domains: vec!["web1".into()],
        domain_type: "kvm".into(),
        others: vec![("hv2".into(), Ok(vec!["web2".into()]))],
    }
}

pub(crate) fn config() -> Config {
    let text = "[defaults]\nmax_restart = 3\n[[host]]\nname = \"hv1\"\nuri = \"test:///default\"\n[[host]]\nname = \"hv2\"\nuri = \"test:///default\"\n[[vm]]\nname = \"db1\"\n";
    Config::parse(text, std::path::Path::new("/etc/3rc/cluster.toml")).unwrap()
}

pub(crate) fn answers() -> Answers {
    let mut a = Answers {
        source: "ssh:root@srv1".into(),
        host: "hv1".into(),
        pool: "default".into(),
        network: "lan".into(),
        name: "srv1new".into(),
        start: true,
        protect: true,
        ..Default::default()
    };
    a.defaults_from(&inventory());
    a
}

#[test]
fn defaults_come_from_the_source() {
    let mut a = Answers::default();
    a.defaults_from(&inventory());
    assert_eq!(a.name, "srv1.example.com");
    assert_eq!((a.vcpus.as_str(), a.memory.as_str()), ("4", "8192M"));
    assert_eq!(a.disks, ["sda", "sdb"], "the read-only DVD drive is not chosen");
    assert_eq!(a.nics, ["eno1"]);
    assert_eq!(a.format, "auto");
    // A bare image says nothing of CPUs or memory.
    let mut b = Answers::default();
    b.defaults_from(&Inventory { hostname: "img".into(), ..Default::default() });
    assert_eq!((b.vcpus.as_str(), b.memory.as_str()), ("1", "1024M"));
}

#[test]
fn a_good_plan_has_volumes_nics_with_their_macs_and_the_policy_over_the_defaults() {
    let mut a = answers();
    a.policy = "priority=5 min_uptime=30s".into();
    let plan = a.build(&inventory(), &facts(), &config()).unwrap();
    assert_eq!((plan.vcpus, plan.memory_kib), (4, 8 * 1024 * 1024));
    assert_eq!(plan.format, Format::Qcow2, "auto: qcow2 in a dir pool");
    assert_eq!(plan.domain_type, "kvm");
    let vols: Vec<(&str, Option<&str>)> =
        plan.disks.iter().map(|d| (d.volume.as_str(), d.staging.as_deref())).collect();
    assert_eq!(
        vols,
        [
            ("srv1new-sda.qcow2", Some("srv1new-sda.p2v-staging")),
            ("srv1new-sdb.qcow2", Some("srv1new-sdb.p2v-staging"))
        ]
    );
    assert_eq!(
        plan.nics,
        [NicPlan { name: "eno1".into(), mac: "3c:ec:ef:00:00:01".into(), network: Network::Libvirt("lan".into()) }]
    );
    let spec = plan.protect.clone().unwrap();
    assert_eq!((spec.priority, spec.policy.max_restart), (5, 3), "max_restart from [defaults]");
    assert_eq!(spec.policy.min_uptime, std::time::Duration::from_secs(30));
    assert_eq!(spec.preferred_host.as_deref(), Some("hv1"));
    let review = plan.review(&inventory()).join("\n");
    assert!(review.contains("disk        /dev/sda 10.0 GiB -> pool default volume srv1new-sda.qcow2 (qcow2), model ST2000, serial SER-sda"), "{review}");
    assert!(review.contains("nic         eno1 3c:ec:ef:00:00:01 -> network lan"), "{review}");
    // A block pool holds raw volumes, written directly.
    a.pool = "vg0".into();
    let plan = a.build(&inventory(), &facts(), &config()).unwrap();
    assert_eq!(
        (plan.format, plan.disks[0].volume.as_str(), plan.disks[0].staging.clone()),
        (Format::Raw, "srv1new-sda.img", None)
    );
}

/// Each bad answer is refused with a message naming the field.
#[test]
fn every_bad_answer_names_its_field() {
    let (inv, facts, cfg) = (inventory(), facts(), config());
    let err = |f: &dyn Fn(&mut Answers)| {
        let mut a = answers();
        f(&mut a);
        let e = a.build(&inv, &facts, &cfg).unwrap_err();
        // The typed field (where the wizard goes) is the one the message names first.
        assert!(e.message.starts_with(e.field.name()), "{:?} for {e}", e.field);
        e
    };
    assert_eq!(err(&|a| a.source = "ftp:x".into()), "source \"ftp:x\": expected disk:/path or ssh:[user@]host[:port]");
    assert_eq!(err(&|a| a.name = "my vm".into()), "name \"my vm\": use 1 to 64 letters, digits, '.', '_' or '-'");
    assert_eq!(err(&|a| a.name = "web1".into()), "name \"web1\": hv1 already has a domain of that name");
    assert_eq!(
        err(&|a| a.name = "web2".into()),
        "name \"web2\": hv2 already has a domain of that name (names are unique across the cluster: 3RC would \
         take the two for one VM running twice)"
    );
    assert_eq!(err(&|a| a.name = "db1".into()), "name \"db1\": the config already protects a VM of that name");
    assert_eq!(err(&|a| a.name = "srv1".into()), "name \"srv1\": pool default already holds a volume srv1-sda.qcow2");
    assert_eq!(err(&|a| a.vcpus = "0".into()), "vcpus \"0\": a number from 1 to 512");
    assert_eq!(err(&|a| a.memory = "lots".into()), "memory \"lots\": expected a size like 2G or 512M");
    assert_eq!(err(&|a| a.memory = "8X".into()), "memory \"8X\": unknown unit \"x\" (use K, M, G or T)");
    assert_eq!(err(&|a| a.memory = "16M".into()), "memory \"16M\": at least 32M");
    assert_eq!(err(&|a| a.disks = vec![]), "disks: choose at least one disk to copy");
    assert_eq!(err(&|a| a.disks = vec!["sdz".into()]), "disks: the source has no disk \"sdz\" (it has: sda, sdb, sr0)");
    assert_eq!(err(&|a| a.nics = vec!["eth9".into()]), "nics: the source has no NIC \"eth9\" (it has: eno1)");
    assert_eq!(err(&|a| a.host = "hv9".into()), "host \"hv9\": not a host of /etc/3rc/cluster.toml (hosts: hv1, hv2)");
    assert_eq!(err(&|a| a.host = "hv2".into()), "host hv2: its pools and networks have not been read yet");
    assert_eq!(
        err(&|a| a.pool = "nfs".into()),
        "pool \"nfs\": hv1 has no such storage pool (it has: default, vg0, tiny)"
    );
    assert_eq!(
        err(&|a| a.pool = "tiny".into()),
        "pool tiny: 5.0 GiB free on hv1, the disks need 60.0 GiB (a raw staging copy, then the qcow2 image)"
    );
    assert_eq!(
        err(&|a| {
            a.pool = "vg0".into();
            a.format = "qcow2".into();
        }),
        "format qcow2: pool vg0 is a logical pool, which holds raw volumes only"
    );
    assert_eq!(err(&|a| a.format = "vmdk".into()), "format \"vmdk\": auto, qcow2 or raw");
    assert_eq!(
        err(&|a| a.network = String::new()),
        "network: choose the target network for the NICs (a libvirt network, or bridge:NAME)"
    );
    assert_eq!(
        err(&|a| a.network = "wan".into()),
        "network \"wan\": hv1 has no such libvirt network (it has: default, lan); or give bridge:NAME"
    );
    assert_eq!(err(&|a| a.network = "bridge:".into()), "network \"bridge:\": invalid bridge name");
    assert!(err(&|a| a.warm = true)
        .message
        .starts_with("stop_command: warm mode needs the command that stops the source"));
    assert_eq!(
        err(&|a| a.policy = "max_restart=x".into()),
        "policy: protect srv1new: invalid type: string \"x\", expected u32"
    );
    assert_eq!(
        err(&|a| {
            a.protect = false;
            a.policy = "priority=1".into();
        }),
        "policy: given, but the VM is not to be protected"
    );
    assert_eq!(err(&|a| a.start = false), "protect: a protected VM must be started (HA would start it anyway)");
    assert_eq!(err(&|a| a.domain_type = "xen".into()), "domain_type \"xen\": auto, kvm or qemu");
    assert_eq!(
        err(&|a| a.serial_log = "serial.log".into()),
        "serial_log \"serial.log\": an absolute path on the target host"
    );
    assert_eq!(
        err(&|a| {
            a.source = "disk:/srv/img".into();
            a.sudo = true;
        }),
        "sudo: only for an ssh source"
    );
}

#[test]
fn memory_sizes_read_as_people_write_them() {
    assert_eq!(parse_memory("2G"), Ok(2 * 1024 * 1024));
    assert_eq!(parse_memory("512M"), Ok(512 * 1024));
    assert_eq!(parse_memory("1536MiB"), Ok(1536 * 1024));
    assert_eq!(parse_memory("1048576K"), Ok(1024 * 1024));
    assert_eq!(parse_memory("256"), Ok(256 * 1024), "a bare number is MiB");
    assert_eq!(human_bytes(1536 << 20), "1.5 GiB");
    assert_eq!(human_bytes(100), "100 B");
}
