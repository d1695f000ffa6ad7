//! Carrying a checked plan out on the target host: volumes, copy (cold or warm), conversion,
//! definition, start, protection. Everything this run creates is written down as it is made;
//! a failure or a cancel at any step removes it again (domain destroyed and undefined, volumes
//! deleted), so nothing is left half-made. Blocking: run it on a thread of its own.

use super::copy::{self, Cancel, PassStats, Progress};
use super::define;
use super::plan::{human_bytes, Plan};
use crate::core::VmSpec;
use crate::hv::Hypervisor;
use std::time::{Duration, Instant};

/// What a run tells as it goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Note {
    /// A step started or ended, in words.
    Step(String),
    Progress(Progress),
}

/// What a finished run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub copied: u64,
    /// Pass 1 (the whole copy) and, warm, the final pass, summed over disks.
    pub first_pass: PassStats,
    pub final_pass: Option<PassStats>,
    /// Time the source was down: warm, from the stop command to the VM defined (and started);
    /// cold, the same span estimated for a copy done with the source stopped from the start
    /// (the measured full copy plus conversion, definition and start).
    pub downtime: Duration,
    pub cold_downtime: Duration,
    pub domain_xml: String,
    pub serial_log: String,
}

impl Report {
    pub fn summary(&self, plan: &Plan) -> Vec<String> {
        let mut l = vec![format!(
            "copied {} in {} ({}/s)",
            human_bytes(self.first_pass.bytes),
            crate::core::time::human(self.first_pass.elapsed),
            human_bytes(self.first_pass.rate() as u64)
        )];
        if let Some(f) = &self.final_pass {
            l.push(format!(
                "final pass: {} of {} blocks changed, {} sent in {} (checksums {})",
                f.changed_blocks,
                f.blocks,
                human_bytes(f.bytes),
                crate::core::time::human(f.elapsed),
                crate::core::time::human(f.checksum_time)
            ));
            l.push(format!(
                "downtime {:.1} s instead of about {:.1} s for a cold copy: {:.1} s saved",
                self.downtime.as_secs_f64(),
                self.cold_downtime.as_secs_f64(),
                self.cold_downtime.saturating_sub(self.downtime).as_secs_f64()
            ));
        }
        if self.final_pass.is_none() {
            l.push(format!(
                "downtime {:.1} s (cold copy: the source stays stopped for the whole copy)",
                self.downtime.as_secs_f64()
            ));
        }
        l.push(format!(
            "{} defined on {}{}; serial console in {}",
            plan.name,
            plan.host,
            if plan.start { " and started" } else { "" },
            self.serial_log
        ));
        if plan.protect.is_some() {
            l.push(format!("{} is protected by HA", plan.name));
        }
        l
    }
}

/// What this run made, to be removed if it does not finish.
#[derive(Default)]
struct Made {
    volumes: Vec<String>,
    domain: Option<String>,
}

impl Made {
    fn undo(&mut self, hv: &mut dyn Hypervisor, pool: &str, note: &mut dyn FnMut(Note)) -> Vec<String> {
        let mut left = Vec::new();
        if let Some(d) = self.domain.take() {
            let _ = hv.destroy(&d);
            match hv.undefine(&d) {
                Ok(()) => note(Note::Step(format!("removed domain {d}"))),
                Err(e) => left.push(format!("domain {d} ({e})")),
            }
        }
        for v in self.volumes.drain(..).rev() {
            match hv.delete_volume(pool, &v) {
                Ok(()) => note(Note::Step(format!("removed volume {pool}/{v}"))),
                Err(e) => left.push(format!("volume {pool}/{v} ({e})")),
            }
        }
        left
    }
}

/// Run the plan. `protect` puts the VM under HA (through the supervisor) at the end; it is only
/// called when the plan asks for it. On error or cancel, what was made is removed and the error
/// says so.
pub fn execute(
    plan: &Plan,
    hv: &mut dyn Hypervisor,
    cancel: &Cancel,
    note: &mut dyn FnMut(Note),
    protect: &mut dyn FnMut(&VmSpec) -> Result<(), String>,
) -> Result<Report, String> {
    let mut made = Made::default();
    match steps(plan, hv, cancel, note, protect, &mut made) {
        Ok(r) => Ok(r),
        Err(e) => {
            let e = if cancel.is_cancelled() { "cancelled".to_string() } else { e };
            note(Note::Step(format!("{e}: removing what this run made")));
            let left = made.undo(hv, &plan.pool, note);
            if left.is_empty() {
                Err(format!("{e} (nothing was left behind)"))
            } else {
                Err(format!("{e}; could NOT remove: {}", left.join(", ")))
            }
        }
    }
}

fn check(cancel: &Cancel) -> Result<(), String> {
    if cancel.is_cancelled() {
        Err("cancelled".into())
    } else {
        Ok(())
    }
}

fn hv_err(what: String) -> impl FnOnce(crate::hv::HvError) -> String {
    move |e| format!("{what}: {e}")
}

fn steps(
    plan: &Plan,
    hv: &mut dyn Hypervisor,
    cancel: &Cancel,
    note: &mut dyn FnMut(Note),
    protect: &mut dyn FnMut(&VmSpec) -> Result<(), String>,
    made: &mut Made,
) -> Result<Report, String> {
    let mut report = Report::default();
    for d in &plan.disks {
        plan.source.check_readable(&d.disk)?;
    }
    for d in &plan.disks {
        check(cancel)?;
        let vol = copy::upload_volume(d);
        hv.create_empty_volume(&plan.pool, vol, d.disk.size, "raw")
            .map_err(hv_err(format!("creating volume {vol}")))?;
        made.volumes.push(vol.to_string());
        note(Note::Step(format!("created raw volume {}/{vol} ({})", plan.pool, human_bytes(d.disk.size))));
    }
    let mut sent_hashes = Vec::new();
    for d in &plan.disks {
        check(cancel)?;
        note(Note::Step(format!(
            "copying {} ({}) into {}",
            d.disk.path,
            human_bytes(d.disk.size),
            copy::upload_volume(d)
        )));
        let (stats, hashes) =
            copy::full_copy(hv, &plan.source, &plan.pool, d, plan.warm.is_some(), cancel, &mut |p| {
                note(Note::Progress(p.clone()))
            })?;
        report.first_pass.bytes += stats.bytes;
        report.first_pass.elapsed += stats.elapsed;
        report.first_pass.blocks += stats.blocks;
        sent_hashes.push(hashes.unwrap_or_default());
    }
    report.copied = report.first_pass.bytes;
    // Downtime starts here: warm, when the source is stopped; cold, the source had to be
    // stopped from the start, so the whole copy counts (measured above).
    let down = Instant::now();
    if let Some(stop) = &plan.warm {
        check(cancel)?;
        note(Note::Step(format!("stopping the source: {stop}")));
        plan.source.stop(stop)?;
        let mut fin = PassStats::default();
        for (d, sent) in plan.disks.iter().zip(&sent_hashes) {
            check(cancel)?;
            note(Note::Step(format!("final pass over {}: checksums at the source, changed blocks only", d.disk.path)));
            let s = copy::final_pass(hv, &plan.source, &plan.pool, d, sent, cancel, &mut |p| {
                note(Note::Progress(p.clone()))
            })?;
            note(Note::Step(format!(
                "{}: {} of {} blocks changed, {} sent",
                d.disk.name,
                s.changed_blocks,
                s.blocks,
                human_bytes(s.bytes)
            )));
            fin.bytes += s.bytes;
            fin.elapsed += s.elapsed;
            fin.blocks += s.blocks;
            fin.changed_blocks += s.changed_blocks;
            fin.checksum_time += s.checksum_time;
        }
        report.copied += fin.bytes;
        report.final_pass = Some(fin);
    }
    for d in &plan.disks {
        check(cancel)?;
        if let Some(staging) = &d.staging {
            note(Note::Step(format!("converting {staging} to qcow2 volume {} on {}", d.volume, plan.host)));
            // Written down first: a conversion that fails halfway may leave a partial volume.
            made.volumes.push(d.volume.clone());
            hv.convert_volume(&plan.pool, staging, &d.volume, plan.format.as_str())
                .map_err(hv_err(format!("converting {staging}")))?;
            hv.delete_volume(&plan.pool, staging).map_err(hv_err(format!("deleting staging volume {staging}")))?;
            made.volumes.retain(|v| v != staging);
        }
    }
    check(cancel)?;
    let xml = define::domain_xml(plan);
    hv.define(&xml).map_err(hv_err(format!("defining {}", plan.name)))?;
    made.domain = Some(plan.name.clone());
    note(Note::Step(format!("defined {} on {}", plan.name, plan.host)));
    if plan.start {
        check(cancel)?;
        hv.start(&plan.name).map_err(hv_err(format!("starting {}", plan.name)))?;
        note(Note::Step(format!("started {}", plan.name)));
    }
    let downtime = down.elapsed();
    report.downtime = downtime;
    report.cold_downtime = if plan.warm.is_some() {
        // A cold copy: the whole disk at pass 1's rate, then the same conversion, definition
        // and start, but no checksums or final pass.
        let after_copy = downtime.saturating_sub(report.final_pass.as_ref().map(|f| f.elapsed).unwrap_or_default());
        report.first_pass.elapsed + after_copy
    } else {
        report.first_pass.elapsed + downtime
    };
    if plan.warm.is_none() {
        report.downtime = report.cold_downtime;
    }
    if let Some(spec) = &plan.protect {
        check(cancel)?;
        protect(spec).map_err(|e| format!("protecting {}: {e}", plan.name))?;
        note(Note::Step(format!("{} protected by HA", plan.name)));
    }
    report.domain_xml = xml;
    report.serial_log = plan.serial_log.clone();
    Ok(report)
}
