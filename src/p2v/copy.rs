//! Streaming a disk into a volume of the target pool through libvirt's upload stream, with
//! progress (bytes, rate, ETA) and cancel.
//!
//! Formats: libvirt's upload writes the bytes as given, so the bytes always land in a raw
//! volume. For a qcow2 target that raw volume is a staging copy, which the target host then
//! converts (`virStorageVolCreateXMLFrom` with a qcow2 target: libvirt runs `qemu-img convert`
//! on the host, so a remote hypervisor works) and deletes. Raw is also what the warm mode needs:
//! its final pass rewrites blocks in place, at their offsets.
//!
//! Warm mode: pass 1 copies the whole disk while the source runs and keeps the SHA-256 of each
//! block as it was sent; after the source is stopped, the source computes the same per-block
//! checksums with standard tools (`dd | split --filter=sha256sum`), and only the blocks that
//! differ are read again and uploaded at their offsets.

use super::plan::DiskPlan;
use super::source::{BlockHasher, Source, BLOCK};
use crate::hv::{Target, UploadTo};
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Cancels a running P2V from another thread (a key, a signal).
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How far one copy is.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub disk: String,
    /// "copy", "final pass".
    pub pass: &'static str,
    pub done: u64,
    pub total: u64,
    /// Bytes per second since this pass started.
    pub rate: f64,
    pub eta: Option<Duration>,
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use super::plan::human_bytes;
        let pct = if self.total > 0 { self.done as f64 * 100.0 / self.total as f64 } else { 100.0 };
        write!(
            f,
            "{} {}: {} of {} ({pct:.0}%), {}/s",
            self.disk,
            self.pass,
            human_bytes(self.done),
            human_bytes(self.total),
            human_bytes(self.rate as u64)
        )?;
        if let Some(eta) = self.eta {
            write!(f, ", {} left", crate::core::time::human(eta))?;
        }
        Ok(())
    }
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PassStats {
    pub bytes: u64,
    pub elapsed: Duration,
    /// Warm final pass only: blocks that differed and were sent again, of all blocks.
    pub changed_blocks: u64,
    pub blocks: u64,
    /// Warm final pass only: time spent computing the checksums at the source.
    pub checksum_time: Duration,
}

impl PassStats {
    pub fn rate(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-6)
    }
}

/// Reports progress at most every 200 ms (and at the end), and answers the upload's "go on?".
struct Meter<'a> {
    disk: String,
    pass: &'static str,
    total: u64,
    base: u64,
    started: Instant,
    last: Option<Instant>,
    cancel: &'a Cancel,
    sink: &'a mut dyn FnMut(&Progress),
}

impl Meter<'_> {
    fn report(&mut self, done: u64, force: bool) -> bool {
        let now = Instant::now();
        if force || self.last.is_none_or(|l| now - l >= Duration::from_millis(200)) {
            self.last = Some(now);
            let rate = done as f64 / (now - self.started).as_secs_f64().max(1e-6);
            let left = self.total.saturating_sub(done);
            let eta = (rate > 0.0 && left > 0).then(|| Duration::from_secs_f64(left as f64 / rate));
            (self.sink)(&Progress { disk: self.disk.clone(), pass: self.pass, done, total: self.total, rate, eta });
        }
        !self.cancel.is_cancelled()
    }
}

/// The volume the bytes are written to: the staging volume for qcow2, else the final one.
pub fn upload_volume(d: &DiskPlan) -> &str {
    d.staging.as_deref().unwrap_or(&d.volume)
}

/// Hashes what passes through, per block.
struct Hashing<'a, R: Read> {
    inner: R,
    hasher: &'a mut BlockHasher,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn cancelled_or(cancel: &Cancel, e: String) -> String {
    if cancel.is_cancelled() {
        "cancelled".into()
    } else {
        e
    }
}

/// Upload `length` bytes of the disk from `offset` into the plan's upload volume.
fn send_range(
    hv: &mut dyn Target,
    source: &Source,
    pool: &str,
    d: &DiskPlan,
    (offset, length): (u64, u64),
    hasher: Option<&mut BlockHasher>,
    meter: &mut Meter,
) -> Result<u64, String> {
    let mut reader = source.read(&d.disk, offset, length)?;
    let to = UploadTo { pool: pool.to_string(), volume: upload_volume(d).to_string(), offset, length };
    let base = meter.base;
    let result = match hasher {
        Some(h) => {
            let mut r = Hashing { inner: &mut reader, hasher: h };
            hv.upload(&to, &mut r, &mut |n| meter.report(base + n, false))
        }
        None => hv.upload(&to, &mut reader, &mut |n| meter.report(base + n, false)),
    };
    let sent = match result {
        Ok(sent) => sent,
        Err(e) => {
            // A source that could not be read ends its stream early: its own error says why.
            let e = reader.failure().unwrap_or_else(|| e.to_string());
            return Err(cancelled_or(meter.cancel, format!("copying {} into {}: {e}", d.disk.path, to.volume)));
        }
    };
    reader.finish()?;
    Ok(sent)
}

/// SHA-256 of each block of a disk.
pub type BlockSums = Vec<[u8; 32]>;

/// Pass 1: the whole disk. With `warm`, also the checksum of every block as sent.
pub fn full_copy(
    hv: &mut dyn Target,
    source: &Source,
    pool: &str,
    d: &DiskPlan,
    warm: bool,
    cancel: &Cancel,
    sink: &mut dyn FnMut(&Progress),
) -> Result<(PassStats, Option<BlockSums>), String> {
    let started = Instant::now();
    let mut meter = Meter {
        disk: d.disk.name.clone(),
        pass: "copy",
        total: d.disk.size,
        base: 0,
        started,
        last: None,
        cancel,
        sink,
    };
    let mut hasher = warm.then(BlockHasher::default);
    let sent = send_range(hv, source, pool, d, (0, d.disk.size), hasher.as_mut(), &mut meter)?;
    meter.report(sent, true);
    let stats = PassStats {
        bytes: sent,
        elapsed: started.elapsed(),
        blocks: d.disk.size.div_ceil(BLOCK),
        ..Default::default()
    };
    Ok((stats, hasher.map(BlockHasher::finish)))
}

/// Runs of consecutive changed blocks, as (first block, count).
pub fn changed_runs(sent: &[[u8; 32]], now: &[[u8; 32]]) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for (i, h) in now.iter().enumerate() {
        if sent.get(i) == Some(h) {
            continue;
        }
        let i = i as u64;
        match runs.last_mut() {
            Some((start, count)) if *start + *count == i => *count += 1,
            _ => runs.push((i, 1)),
        }
    }
    runs
}

/// The warm mode's final pass, with the source stopped: only the blocks whose checksum at the
/// source differs from what pass 1 sent.
pub fn final_pass(
    hv: &mut dyn Target,
    source: &Source,
    pool: &str,
    d: &DiskPlan,
    sent: &[[u8; 32]],
    cancel: &Cancel,
    sink: &mut dyn FnMut(&Progress),
) -> Result<PassStats, String> {
    let started = Instant::now();
    let now = source.checksums(&d.disk)?;
    let checksum_time = started.elapsed();
    let runs = changed_runs(sent, &now);
    let changed: u64 = runs.iter().map(|(_, c)| c).sum();
    let total = runs.iter().map(|(s, c)| range(d.disk.size, *s, *c).1).sum();
    let mut meter = Meter {
        disk: d.disk.name.clone(),
        pass: "final pass",
        total,
        base: 0,
        started: Instant::now(),
        last: None,
        cancel,
        sink,
    };
    let mut bytes = 0;
    for (start, count) in runs {
        if cancel.is_cancelled() {
            return Err("cancelled".into());
        }
        meter.base = bytes;
        bytes += send_range(hv, source, pool, d, range(d.disk.size, start, count), None, &mut meter)?;
    }
    meter.report(bytes, true);
    Ok(PassStats {
        bytes,
        elapsed: started.elapsed(),
        changed_blocks: changed,
        blocks: now.len() as u64,
        checksum_time,
    })
}

/// Byte range (offset, length) of `count` blocks from `start`, cut at the disk's end.
fn range(size: u64, start: u64, count: u64) -> (u64, u64) {
    let offset = start * BLOCK;
    (offset, (count * BLOCK).min(size.saturating_sub(offset)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_blocks_are_sent_again_in_runs() {
        let a = [[1u8; 32], [2; 32], [3; 32], [4; 32], [5; 32]];
        let mut b = a;
        b[1] = [9; 32];
        b[2] = [9; 32];
        b[4] = [9; 32];
        assert_eq!(changed_runs(&a, &b), vec![(1, 2), (4, 1)]);
        assert!(changed_runs(&a, &a).is_empty());
        // A disk that grew: the new blocks are changed.
        assert_eq!(changed_runs(&a[..3], &a), vec![(3, 2)]);
        assert_eq!(range(BLOCK * 4 + 10, 4, 1), (BLOCK * 4, 10), "the last block is short");
    }

    #[test]
    fn progress_reads_as_a_person_wants_it() {
        let p = Progress {
            disk: "sda".into(),
            pass: "copy",
            done: 512 << 20,
            total: 1 << 30,
            rate: 100.0 * 1024.0 * 1024.0,
            eta: Some(Duration::from_secs(5)),
        };
        assert_eq!(p.to_string(), "sda copy: 512.0 MiB of 1.0 GiB (50%), 100.0 MiB/s, 5 s left");
    }
}
