//! What the simulator benchmarks share: a cluster of `hosts` x `vms_per_host` VMs as a case, and
//! the figures they print (memory high-water mark, CPU time, percentiles).

#![allow(dead_code)] // each benchmark uses some of these

use std::time::Duration;
use threerc::sim::scenario::{parse_cluster, parse_commands};
use threerc::sim::Case;

/// `hosts` hosts named hv0000..., each with `vms_per_host` VMs named vm00000...
pub fn case(hosts: usize, vms_per_host: usize, host_mem_mib: u64, vm_mem_mib: u64, commands: &str) -> Case {
    let mut s = String::new();
    for i in 0..hosts {
        s.push_str(&format!("[[host]]\nname = \"hv{i:04}\"\ncpus = 64\nmemory_mib = {host_mem_mib}\n"));
    }
    for n in 0..hosts * vms_per_host {
        let group = if n % 10 == 0 { format!("group = \"g{}\"\n", n % 7) } else { String::new() };
        s.push_str(&format!(
            "[[vm]]\nname = \"vm{n:05}\"\nhost = \"hv{:04}\"\nvcpus = 1\nmemory_mib = {vm_mem_mib}\npriority = {}\n{group}",
            n / vms_per_host,
            n % 5
        ));
    }
    Case { cluster: parse_cluster(&s).unwrap(), commands: parse_commands(commands).unwrap(), spec: None }
}

pub fn hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// CPU time of this thread (user + system), from /proc, in 10 ms ticks: robust to other
/// processes sharing the cores, unlike wall time.
pub fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    // Fields after the name: state is index 0, utime index 11, stime index 12.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The cycle times of the next `n` cycles of a running supervisor.
pub async fn cycles(handle: &threerc::supervisor::SupervisorHandle, n: usize) -> Vec<Duration> {
    let mut times = Vec::new();
    let mut seen = handle.cycles_done();
    while times.len() < n {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = handle.cycles_done();
        if now != seen {
            seen = now;
            times.push(handle.last_cycle());
        }
    }
    times
}
