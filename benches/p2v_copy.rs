//! P2V on the real-libvirt lab (root): copy throughput into a lab host's pool through libvirt's
//! upload stream, from a local image and from the lab's "physical machine" over SSH; and the
//! warm mode's downtime against a cold copy of the same disk, with the source writing during
//! the first pass. Prints figures (BENCHMARKS.md); asserts only that each run succeeded.
//! `cargo bench --bench p2v_copy` (release build of `3rc`).

#[path = "../tests/lab/harness.rs"]
mod harness;

use harness::Lab;
use std::process::Command;

const MIB: u64 = 256;

fn p2v(lab: &Lab, cfg: &std::path::Path, args: &[String]) -> String {
    let out = Command::new(harness::lab_script())
        .arg("exec")
        .arg(lab.path())
        .arg(env!("CARGO_BIN_EXE_3rc"))
        .args(["p2v", "--config"])
        .arg(cfg)
        .args(args)
        .output()
        .expect("3rc p2v");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    text
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// The summary lines worth printing.
fn figures(label: &str, out: &str) {
    for l in
        out.lines().filter(|l| l.starts_with("copied ") || l.starts_with("final pass") || l.starts_with("downtime"))
    {
        println!("{label:<28} {l}");
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("p2v_copy: a benchmark on the real libvirt lab (root); run it with `cargo bench --bench p2v_copy`");
        return;
    }
    if !harness::lab_allowed() {
        return;
    }
    let lab = Lab::up(1, 0);
    let cfg = lab.path().join("p2v.toml");
    std::fs::write(&cfg, "[[host]]\nname = \"hv1\"\nuri = \"qemu+tcp://10.233.7.11/system\"\n").unwrap();
    // A disk of random bytes (nothing compresses or skips).
    let image = lab.path().join("source.img");
    let made = Command::new("dd")
        .args(["if=/dev/urandom", "bs=1M", &format!("count={MIB}"), "status=none"])
        .arg(format!("of={}", image.display()))
        .status()
        .unwrap();
    assert!(made.success());
    let common = "--target hv1 --pool shared --memory 64M --domain-type qemu --no-protect --no-start --yes";

    for format in ["raw", "qcow2"] {
        let out = p2v(
            &lab,
            &cfg,
            &words(&format!("--source disk:{} --name local{format} --format {format} {common}", image.display())),
        );
        figures(&format!("local image -> {format}"), &out);
    }

    let dev = lab.run(&["phys-up", image.to_str().unwrap()]).trim().trim_start_matches("/dev/").to_string();
    lab.run(&["bridge", "hv1", "p2vbr"]);
    let key = lab.path().join("phys/id_ed25519");
    let ssh = format!(
        "--source ssh:root@10.233.7.50 --identity {} --ssh-option StrictHostKeyChecking=no --ssh-option UserKnownHostsFile=/dev/null --disk {dev} --network bridge:p2vbr",
        key.display()
    );
    // Cold and warm over the lab's link as it is (a veth: faster than the disk is read), then
    // over a link shaped to 400 Mbit/s (a busy 1 Gbit/s network).
    for (link, rate) in [("veth", None), ("400 Mbit/s", Some("400mbit"))] {
        if let Some(rate) = rate {
            lab.run(&["phys-link", rate]);
        }
        let out = p2v(&lab, &cfg, &words(&format!("{ssh} --name cold{} --format raw {common}", rate.is_some() as u8)));
        figures(&format!("ssh {link}, cold"), &out);
        // Warm: a writer rewrites 16 MiB of the disk in a loop while pass 1 runs; the stop
        // command ends it.
        let pid = lab.path().join("phys/writer.pid");
        let start_writer = format!(
            "nohup sh -c 'i=0; while :; do dd if=/dev/urandom of=/dev/{dev} bs=1M seek=$((100 + i % 16)) count=1 conv=notrunc,fsync status=none; i=$((i+1)); sleep 0.05; done' >/dev/null 2>&1 & echo $! > {}",
            pid.display()
        );
        let ran = Command::new(harness::lab_script())
            .arg("exec")
            .arg(lab.path())
            .args(words("ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -i"))
            .arg(&key)
            .args(["root@10.233.7.50", &start_writer])
            .status()
            .unwrap();
        assert!(ran.success());
        let mut args =
            words(&format!("{ssh} --name warm{} --format raw {common} --warm --stop-command", rate.is_some() as u8));
        args.push(format!("kill $(cat {}); sync", pid.display()));
        let out = p2v(&lab, &cfg, &args);
        figures(&format!("ssh {link}, warm (16 MiB hot)"), &out);
    }
}
