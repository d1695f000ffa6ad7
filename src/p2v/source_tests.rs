use super::*;

/// `lsblk -J -b -o NAME,SIZE,MODEL,SERIAL,TYPE,RO,MOUNTPOINT` on a server with two SATA disks
/// (one partitioned and mounted), a DVD drive and a loop device (util-linux 2.38).
const LSBLK: &str = r#"{
   "blockdevices": [
      {"name":"loop0", "size":67108864, "model":null, "serial":null, "type":"loop", "ro":false, "mountpoint":null},
      {"name":"sda", "size":500107862016, "model":"Samsung SSD 860 ", "serial":"S3Z9NB0K123456", "type":"disk", "ro":false, "mountpoint":null,
         "children": [
            {"name":"sda1", "size":536870912, "model":null, "serial":null, "type":"part", "ro":false, "mountpoint":"/boot/efi"},
            {"name":"sda2", "size":499569991168, "model":null, "serial":null, "type":"part", "ro":false, "mountpoint":"/"}
         ]
      },
      {"name":"sdb", "size":2000398934016, "model":"ST2000DM008-2FR1", "serial":"ZFL1ABCD", "type":"disk", "ro":false, "mountpoint":null},
      {"name":"sr0", "size":1073741312, "model":"DVD-ROM", "serial":"X1", "type":"rom", "ro":true, "mountpoint":null},
      {"name":"zram0", "size":0, "model":null, "serial":null, "type":"disk", "ro":false, "mountpoint":"[SWAP]"}
   ]
}"#;

/// util-linux 2.29 (Debian 9): numbers and booleans as strings.
const LSBLK_OLD: &str = r#"{"blockdevices": [{"name": "vda", "size": "10737418240", "model": null, "serial": null, "type": "disk", "ro": "0", "mountpoint": null}]}"#;

const CPUINFO: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Xeon\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\n\nprocessor\t: 2\n\nprocessor\t: 3\n";

const MEMINFO: &str = "MemTotal:       16314276 kB\nMemFree:         1234567 kB\nMemAvailable:    9876543 kB\n";

const IP_LINK: &str = r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"link_type":"loopback","address":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00"},{"ifindex":2,"ifname":"eno1","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"link_type":"ether","address":"3C:EC:EF:12:34:56","broadcast":"ff:ff:ff:ff:ff:ff"},{"ifindex":3,"ifname":"eno2","mtu":1500,"link_type":"ether","address":"3c:ec:ef:12:34:57"},{"ifindex":4,"ifname":"wg0","mtu":1420,"link_type":"none"}]"#;

#[test]
fn lsblk_gives_whole_disks_with_size_model_serial_and_mounts() {
    let disks = parse_lsblk(LSBLK).unwrap();
    let names: Vec<&str> = disks.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["loop0", "sda", "sdb"], "partitions, DVD drives and empty devices are not disks");
    let sda = &disks[1];
    assert_eq!(sda.path, "/dev/sda");
    assert_eq!(sda.size, 500_107_862_016);
    assert_eq!(sda.model.as_deref(), Some("Samsung SSD 860"), "trimmed");
    assert_eq!(sda.serial.as_deref(), Some("S3Z9NB0K123456"));
    assert_eq!(sda.mounted, ["/boot/efi", "/"], "its partitions' mounts");
    assert!(disks[2].mounted.is_empty());
    let old = parse_lsblk(LSBLK_OLD).unwrap();
    assert_eq!((old[0].size, old[0].readonly), (10_737_418_240, false));
    assert!(parse_lsblk("lsblk: command not found").unwrap_err().contains("cannot read lsblk's output"));
}

#[test]
fn cpus_memory_and_nics_come_from_proc_and_ip() {
    assert_eq!(parse_cpuinfo(CPUINFO), Some(4));
    assert_eq!(parse_cpuinfo(""), None);
    assert_eq!(parse_meminfo(MEMINFO), Some(16_314_276));
    let nics = parse_ip_link(IP_LINK).unwrap();
    assert_eq!(
        nics,
        vec![
            Nic { name: "eno1".into(), mac: "3c:ec:ef:12:34:56".into() },
            Nic { name: "eno2".into(), mac: "3c:ec:ef:12:34:57".into() }
        ]
    );
}

#[test]
fn the_inventory_script_output_is_split_by_its_markers() {
    let out = format!(
        "@@3rc hostname\nsrv1\n@@3rc lsblk\n{LSBLK}\n@@3rc cpuinfo\n{CPUINFO}@@3rc meminfo\n{MEMINFO}@@3rc ip\n{IP_LINK}\n"
    );
    let inv = parse_inventory(&out).unwrap();
    assert_eq!(inv.hostname, "srv1");
    assert_eq!((inv.cpus, inv.memory_kib), (Some(4), Some(16_314_276)));
    assert_eq!(inv.disks.len(), 3);
    assert_eq!(inv.nics.len(), 2);
    assert_eq!(inv.disk("sdb").map(|d| d.size), Some(2_000_398_934_016));
    assert_eq!(inv.disk("/dev/sdb").map(|d| d.name.as_str()), Some("sdb"));
    assert!(parse_inventory("@@3rc hostname\nsrv1\n").unwrap_err().contains("no disk list"));
}

#[test]
fn sources_are_parsed_with_clear_errors() {
    assert_eq!(Source::parse("disk:/srv/img.raw"), Ok(Source::Local("/srv/img.raw".into())));
    assert_eq!(Source::parse("/dev/loop3"), Ok(Source::Local("/dev/loop3".into())));
    match Source::parse("ssh:root@10.0.0.5:2222").unwrap() {
        Source::Ssh(s) => {
            assert_eq!((s.user.as_deref(), s.host.as_str(), s.port), (Some("root"), "10.0.0.5", Some(2222)))
        }
        other => panic!("{other:?}"),
    }
    match Source::parse("ssh:srv1").unwrap() {
        Source::Ssh(s) => assert_eq!((s.user, s.host.as_str(), s.port), (None, "srv1", None)),
        other => panic!("{other:?}"),
    }
    assert!(Source::parse("disk:img.raw").unwrap_err().contains("must be absolute"));
    assert!(Source::parse("ssh:root@srv1:99999").unwrap_err().contains("invalid port"));
    assert!(Source::parse("ssh:root@bad host").unwrap_err().contains("invalid host name"));
    assert!(Source::parse("ftp://x").unwrap_err().contains("expected disk:/path or ssh:"));
}

#[test]
fn ssh_never_prompts_and_quotes_the_remote_script() {
    let mut s = match Source::parse("ssh:admin@srv1:2200").unwrap() {
        Source::Ssh(s) => s,
        _ => unreachable!(),
    };
    s.sudo = true;
    s.options = vec!["ProxyCommand=nc %h %p".into()];
    let cmd = s.command("dd if=/dev/sda bs=1M");
    let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    assert_eq!(cmd.get_program(), "ssh");
    assert!(args.windows(2).any(|w| w == ["-o", "BatchMode=yes"]), "{args:?}");
    assert!(args.windows(2).any(|w| w == ["-p", "2200"]));
    assert!(args.windows(2).any(|w| w == ["-o", "ProxyCommand=nc %h %p"]));
    assert_eq!(args.last().unwrap(), "sudo -n sh -c 'dd if=/dev/sda bs=1M'");
    assert_eq!(shell_quote("it's"), "'it'\\''s'");
    assert_eq!(shell_quote("/dev/sda"), "/dev/sda");
}

#[test]
fn block_hashes_match_per_block_and_for_a_short_last_block() {
    use sha2::Digest;
    let data: Vec<u8> = (0..(2 * BLOCK + 100)).map(|i| (i % 251) as u8).collect();
    let hashes = block_hashes(&mut data.as_slice(), data.len() as u64).unwrap();
    assert_eq!(hashes.len(), 3);
    let b = BLOCK as usize;
    let expect: [u8; 32] = sha2::Sha256::digest(&data[b..2 * b]).into();
    assert_eq!(hashes[1], expect);
    let last: [u8; 32] = sha2::Sha256::digest(&data[2 * b..]).into();
    assert_eq!(hashes[2], last);
    // Fed in odd pieces, the same.
    let mut h = BlockHasher::default();
    for chunk in data.chunks(7777) {
        h.update(chunk);
    }
    assert_eq!(h.finish(), hashes);
    assert!(block_hashes(&mut &data[..10], 20).unwrap_err().contains("ended 10 bytes early"));
    let line = format!("{}  -", "ab".repeat(32));
    assert_eq!(parse_hash(&line).unwrap(), [0xab; 32]);
    assert!(parse_hash("zz  -").is_err());
}

#[test]
fn a_reader_cut_short_says_why_its_command_failed_and_one_still_running_is_killed() {
    let mut failed = Command::new("sh");
    failed.args(["-c", "echo \"dd: failed to open '/dev/sda': Permission denied\" >&2; exit 1"]);
    let mut r = ChildReader::spawn(failed, "reading /dev/sda on pm1".into()).unwrap();
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    assert!(got.is_empty());
    let why = r.failure(std::time::Duration::from_secs(5)).expect("the command failed");
    assert!(why.starts_with("reading /dev/sda on pm1 failed (exit status: 1)"), "{why}");
    assert!(why.ends_with("dd: failed to open '/dev/sda': Permission denied"), "{why}");

    let mut ok = Command::new("sh");
    ok.args(["-c", "printf abc"]);
    let mut r = ChildReader::spawn(ok, "reading".into()).unwrap();
    r.read_to_end(&mut got).unwrap();
    assert_eq!(r.failure(std::time::Duration::from_secs(5)), None);

    // Still sending (a whole disk left): killed, not drained (draining `yes` would never end).
    let mut endless = Command::new("sh");
    endless.args(["-c", "exec yes"]);
    let r = ChildReader::spawn(endless, "reading".into()).unwrap();
    assert_eq!(r.failure(std::time::Duration::from_millis(100)), None);
}
