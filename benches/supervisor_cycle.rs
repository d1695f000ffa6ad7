//! One full supervision cycle of the real supervisor — every host probed through its worker
//! thread and libvirt (test driver), the engine's decisions, the snapshot published — at demo
//! size (the demo cluster) and at 100 hosts x 2,000 VMs (generated test-driver host files).
//! Prints figures; asserts nothing. `cargo bench --bench supervisor_cycle`.

use std::path::Path;
use std::time::{Duration, Instant};
use threerc::config::Config;

fn host_xml(i: usize, vms_per_host: usize) -> String {
    let mut s = String::from(
        "<node><cpu><nodes>1</nodes><sockets>1</sockets><cores>32</cores><threads>2</threads>\
         <active>64</active><mhz>2400</mhz><model>x86_64</model></cpu><memory>536870912</memory>\n",
    );
    for j in 0..vms_per_host {
        let n = i * vms_per_host + j;
        s.push_str(&format!(
            "<domain type='test'><name>vm{n:05}</name><uuid>3c0e0000-0000-4000-8000-{n:012}</uuid>\
             <memory unit='GiB'>2</memory><vcpu>2</vcpu><os><type>hvm</type></os></domain>\n"
        ));
    }
    s.push_str("</node>\n");
    s
}

/// Write `hosts` host files and a config protecting every VM; return the config.
fn generated(dir: &Path, hosts: usize, vms_per_host: usize) -> Config {
    let mut cfg = String::from("[defaults]\ninterval = \"1s\"\nprobe_timeout = \"30s\"\n");
    for i in 0..hosts {
        std::fs::write(dir.join(format!("hv{i:03}.xml")), host_xml(i, vms_per_host)).unwrap();
        cfg.push_str(&format!("[[host]]\nname = \"hv{i:03}\"\nuri = \"test://{{config_dir}}/hv{i:03}.xml\"\n"));
    }
    for n in 0..hosts * vms_per_host {
        cfg.push_str(&format!("[[vm]]\nname = \"vm{n:05}\"\npriority = {}\n", n % 5));
    }
    Config::parse(&cfg, &dir.join("cluster.toml")).unwrap()
}

fn measure(label: &str, cfg: &Config, cycles: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let (mut sup, _handle) =
            threerc::app::assemble(cfg, threerc::app::libvirt_connector(), Default::default()).unwrap();
        // Warm-up: connections opened, every VM discovered.
        for _ in 0..3 {
            sup.cycle().await;
        }
        let mut times: Vec<Duration> = (0..cycles)
            .map(|_| {
                let t = Instant::now();
                futures_lite_block(&mut sup);
                t.elapsed()
            })
            .collect();
        times.sort();
        let mean = times.iter().sum::<Duration>() / times.len() as u32;
        println!(
            "{label:<28} cycles {cycles:>4}  mean {:>9.3} ms  p50 {:>9.3} ms  p99 {:>9.3} ms  max {:>9.3} ms",
            ms(mean),
            ms(times[times.len() / 2]),
            ms(times[(times.len() * 99 / 100).min(times.len() - 1)]),
            ms(times[times.len() - 1])
        );
    });
}

/// Run one cycle to completion from inside the runtime.
fn futures_lite_block(sup: &mut threerc::supervisor::Supervisor) {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(sup.cycle()));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    // `cargo test --all-targets` runs bench binaries too; keep that quick.
    let quick = std::env::args().all(|a| a != "--bench");
    let cycles = if quick { 3 } else { 200 };
    threerc::backend::libvirt::init();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/cluster.toml");
    measure("demo (4 hosts, 9 VMs)", &Config::load(&demo).unwrap(), cycles);
    let dir = tempfile::tempdir().unwrap();
    let big = generated(dir.path(), 100, 20);
    measure("100 hosts x 2,000 VMs", &big, if quick { 2 } else { 50 });
}
