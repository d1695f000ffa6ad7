//! Alarms: what a person must know (a fence failed, a VM needs a person, quorum is lost, ...),
//! raised by the engine and acknowledged by a person. An alarm is raised once per key while
//! an unacknowledged one with that key stands.
//!
//! Alarms are durable: every change (raised, acknowledged, dropped) goes out in
//! [`Output::alarms`] for the journal, and a restarted engine gets the list back
//! ([`Engine::restore_alarms`]) before its first cycle: numbers go on where they stopped, and
//! an acknowledgement holds. A restart makes the engine rediscover every standing condition
//! (a VM that needs a person, a host still down); an alarm such a condition raises within
//! [`RESTORE_GRACE`] of the restart, with the key of an alarm the earlier run raised, is that
//! same alarm — it keeps its number and its acknowledgement — not a new page.

use super::decisions::Decision;
use super::engine::{Engine, Output};
use super::event::{Event, EventKind, Severity, Subject};
use super::time::{Duration, Time};
use super::view::AlarmView;
use serde::{Deserialize, Serialize};

/// How long after a restart an alarm raised again is taken as the earlier run's alarm: long
/// enough for the first probes, the hysteresis, the ladder and the first round of fence
/// checks to find again what was already alarmed.
pub const RESTORE_GRACE: Duration = Duration::from_secs(300);

/// At most this many alarms are kept; past it, the oldest acknowledged one is dropped.
const KEEP: usize = 200;

/// One alarm, as the journal keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    pub id: u64,
    /// What raised it ("fencefail:hv1", "operator:db1"): one standing alarm per key.
    pub key: String,
    /// When it was raised, wall-clock milliseconds since the Unix epoch.
    pub wall_ms: u64,
    pub subject: Subject,
    pub severity: Severity,
    pub message: String,
    /// Who acknowledged it, and when.
    pub ack: Option<Decision>,
    /// Why its condition ended by itself (the storage answers again), if it did: it is not
    /// firing any more (acknowledged by 3rc if no person had), and it stops standing for its
    /// key — the same condition again later is a new alarm. Kept, so numbers are never reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
}

#[derive(Clone, Debug)]
pub(super) struct AlarmRec {
    pub alarm: Alarm,
    /// Restored from an earlier run and not raised again in this one yet.
    pub restored: bool,
}

impl Engine {
    /// The wall clock now, in ms since the epoch.
    fn wall_now(&self) -> u64 {
        self.wall_origin + self.now.millis()
    }

    /// Raise an alarm unless one with the same key is still unacknowledged (or is the earlier
    /// run's, raised again by the restart: see the module's doc).
    pub(super) fn raise(
        &mut self,
        key: String,
        subject: Subject,
        severity: Severity,
        message: String,
        out: &mut Output,
    ) {
        let in_grace = self.now <= self.alarm_grace_until;
        let mut same = false;
        for a in self.alarms.iter_mut().filter(|a| a.alarm.key == key && a.alarm.ended.is_none()) {
            same |= a.alarm.ack.is_none() || (a.restored && in_grace);
            a.restored = false;
        }
        if same {
            return;
        }
        let id = self.next_alarm;
        self.next_alarm += 1;
        out.events.push(Event {
            at: self.now,
            subject: subject.clone(),
            kind: EventKind::Alarm { id, severity },
            reason: message.clone(),
        });
        let alarm = Alarm { id, key, wall_ms: self.wall_now(), subject, severity, message, ack: None, ended: None };
        out.alarms.push((id, Some(alarm.clone())));
        self.alarms.push(AlarmRec { alarm, restored: false });
        if self.alarms.len() > KEEP {
            if let Some(i) = self.alarms.iter().position(|a| a.alarm.ack.is_some()) {
                let gone = self.alarms.remove(i);
                out.alarms.push((gone.alarm.id, None));
            }
        }
    }

    /// Whether an alarm with `key` stands (raised, its condition not ended; acknowledged or not).
    pub(super) fn alarm_stands(&self, key: &str) -> bool {
        self.alarms.iter().any(|a| a.alarm.key == key && a.alarm.ended.is_none())
    }

    /// The condition behind the alarms with `key` ended by itself (the storage answers again):
    /// they are ended — resolved for Alertmanager, acknowledged by 3rc where no person had —
    /// and the log says why.
    pub(super) fn end_alarms(&mut self, key: &str, why: &str, out: &mut Output) {
        let wall_ms = self.wall_now();
        let mut ended = Vec::new();
        for a in self.alarms.iter_mut().filter(|a| a.alarm.key == key && a.alarm.ended.is_none()) {
            a.alarm.ended = Some(why.to_string());
            if a.alarm.ack.is_none() {
                a.alarm.ack = Some(Decision { by: "3rc (its condition ended)".into(), wall_ms });
            }
            out.alarms.push((a.alarm.id, Some(a.alarm.clone())));
            ended.push((a.alarm.id, a.alarm.subject.clone()));
        }
        for (id, subject) in ended {
            self.note(subject, format!("alarm #{id} ended: {why}"), out);
        }
    }

    /// A person acknowledges alarm `id`.
    pub(super) fn ack_alarm(&mut self, id: u64, by: &str, out: &mut Output) -> Result<(), String> {
        let ack = Decision { by: by.to_string(), wall_ms: self.wall_now() };
        let a = self.alarms.iter_mut().find(|a| a.alarm.id == id).ok_or_else(|| format!("no alarm #{id}"))?;
        if let Some(d) = &a.alarm.ack {
            return Err(format!("alarm #{id} is already acknowledged (by {})", d.describe()));
        }
        a.alarm.ack = Some(ack);
        out.alarms.push((id, Some(a.alarm.clone())));
        Ok(())
    }

    /// Acknowledge every open alarm about `subject` (it is no longer watched).
    pub(super) fn ack_subject(&mut self, subject: &Subject, by: &str, out: &mut Output) {
        let ack = Decision { by: by.to_string(), wall_ms: self.wall_now() };
        for a in self.alarms.iter_mut().filter(|a| &a.alarm.subject == subject && a.alarm.ack.is_none()) {
            a.alarm.ack = Some(ack.clone());
            out.alarms.push((a.alarm.id, Some(a.alarm.clone())));
        }
    }

    /// Put back the alarms an earlier run journaled, oldest first, before the first cycle.
    pub fn restore_alarms(&mut self, now: Time, alarms: Vec<Alarm>) -> Output {
        self.now = now;
        let mut out = Output::default();
        if alarms.is_empty() {
            return out;
        }
        self.alarm_grace_until = now.plus(RESTORE_GRACE);
        let open = alarms.iter().filter(|a| a.ack.is_none()).count();
        let (count, last) = (alarms.len(), alarms.iter().map(|a| a.id).max().unwrap_or(0));
        self.next_alarm = self.next_alarm.max(last + 1);
        let mut restored: Vec<AlarmRec> = alarms.into_iter().map(|alarm| AlarmRec { alarm, restored: true }).collect();
        restored.append(&mut self.alarms);
        self.alarms = restored;
        let text = format!(
            "{count} alarm(s) kept from the earlier run ({open} not acknowledged); numbering goes on at #{}",
            self.next_alarm
        );
        self.note(Subject::Cluster, text, &mut out);
        out
    }

    /// The alarms kept now, oldest first (`[ha]`: the first leader of all shares its own).
    pub fn alarms_kept(&self) -> Vec<Alarm> {
        self.alarms.iter().map(|a| a.alarm.clone()).collect()
    }

    /// Take over the alarms the former leader kept (`[ha]`), as a restart takes the journal's:
    /// they replace this instance's own, numbering goes on after the highest, an
    /// acknowledgement holds, and a standing condition found again within [`RESTORE_GRACE`] is
    /// that same alarm, not a new page. An alarm of this instance's own that is still open and
    /// about something the former leader had no alarm for (its journal failing, say) is raised
    /// again, under a number of the shared series.
    pub fn adopt_alarms(&mut self, now: Time, former: &str, mut shared: Vec<Alarm>) -> Output {
        self.now = now;
        let mut out = Output::default();
        shared.sort_by_key(|a| a.id);
        let own = std::mem::take(&mut self.alarms);
        for a in &own {
            if !shared.iter().any(|s| s.id == a.alarm.id) {
                out.alarms.push((a.alarm.id, None));
            }
        }
        self.alarm_grace_until = now.plus(RESTORE_GRACE);
        self.next_alarm = self.next_alarm.max(shared.iter().map(|a| a.id).max().unwrap_or(0) + 1);
        let open = shared.iter().filter(|a| a.ack.is_none()).count();
        let count = shared.len();
        out.alarms.extend(shared.iter().map(|a| (a.id, Some(a.clone()))));
        self.alarms = shared.into_iter().map(|alarm| AlarmRec { alarm, restored: true }).collect();
        if count > 0 {
            let text = format!(
                "{count} alarm(s) taken over from the former leader {former} ({open} not acknowledged); numbering \
                 goes on at #{}",
                self.next_alarm
            );
            self.note(Subject::Cluster, text, &mut out);
        }
        for a in own.into_iter().map(|a| a.alarm).filter(|a| a.ack.is_none()) {
            if !self.alarms.iter().any(|s| s.alarm.key == a.key) {
                self.raise(a.key, a.subject, a.severity, a.message, &mut out);
            }
        }
        out
    }

    /// The alarms for people, unacknowledged first, then by severity, newest first.
    pub(super) fn alarm_views(&self) -> Vec<AlarmView> {
        let wall = self.wall_now();
        let mut views: Vec<AlarmView> = self
            .alarms
            .iter()
            .map(|AlarmRec { alarm: a, .. }| AlarmView {
                id: a.id,
                kind: a.key.split(':').next().unwrap_or_default().to_string(),
                age_ms: wall.saturating_sub(a.wall_ms),
                subject: a.subject.clone(),
                severity: a.severity,
                message: a.message.clone(),
                acked: a.ack.is_some(),
                acked_by: a.ack.as_ref().map(Decision::describe),
            })
            .collect();
        views.sort_by(|a, b| a.acked.cmp(&b.acked).then(b.severity.cmp(&a.severity)).then(b.id.cmp(&a.id)));
        views
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClusterSpec, Command, HostPolicy, PlacementPolicy};

    fn engine() -> Engine {
        let spec = ClusterSpec {
            hosts: vec![],
            vms: vec![],
            host_policy: HostPolicy::default(),
            placement: PlacementPolicy::default(),
            witnesses: vec![],
        };
        let mut e = Engine::new(spec, Time::ZERO);
        e.set_wall_origin(1_796_392_920_000);
        e
    }

    fn raise(e: &mut Engine, at: u64, key: &str) -> Output {
        e.external_alarm(Time::from_secs(at), key, Subject::Cluster, Severity::Critical, key.into())
    }

    fn kept(e: &Engine) -> Vec<Alarm> {
        e.alarms.iter().map(|a| a.alarm.clone()).collect()
    }

    #[test]
    fn a_new_leader_takes_the_former_leader_s_alarms_over_with_their_numbers_and_acknowledgements() {
        // The former leader: two alarms, one acknowledged.
        let mut former = engine();
        raise(&mut former, 1, "fencefail:hv1");
        raise(&mut former, 2, "operator:db1");
        former.command(Time::from_secs(3), "console:alice", &Command::AckAlarm { id: 2 }).unwrap();
        // The standby that takes over had an alarm of its own (its journal failing), #1 in its
        // own series.
        let mut next = engine();
        raise(&mut next, 1, "journal");
        let out = next.adopt_alarms(Time::from_secs(10), "sup1", former.alarms_kept());
        let note = &out.events[0].reason;
        assert!(note.contains("2 alarm(s) taken over from the former leader sup1 (1 not acknowledged)"), "{note}");
        // Its own #1 gives way to the shared #1 in its journal; its open condition is raised
        // again as #3: one page, under the shared numbering.
        assert!(out.alarms.iter().any(|(id, a)| *id == 1 && a.as_ref().is_some_and(|a| a.key == "fencefail:hv1")));
        assert!(matches!(out.events[1].kind, EventKind::Alarm { id: 3, .. }), "{:?}", out.events);
        // The standing conditions, found again by the new leader: the same alarms, no page.
        assert!(raise(&mut next, 11, "fencefail:hv1").events.is_empty());
        assert!(raise(&mut next, 11, "operator:db1").events.is_empty(), "acknowledged on the former leader");
        let db1 = next.alarm_views().into_iter().find(|v| v.id == 2).unwrap();
        assert!(db1.acked && db1.acked_by.as_deref().unwrap().starts_with("console:alice"));
        let out = raise(&mut next, 20, "quorum");
        assert!(matches!(out.events[0].kind, EventKind::Alarm { id: 4, .. }), "numbering goes on");
    }

    #[test]
    fn alarms_and_acknowledgements_survive_a_restart_and_are_not_raised_again() {
        let mut e = engine();
        let out = raise(&mut e, 1, "operator:db1");
        assert_eq!(out.alarms.len(), 1, "journaled when raised");
        raise(&mut e, 2, "quorum");
        let out = e.command(Time::from_secs(60), "console:alice", &Command::AckAlarm { id: 1 }).unwrap();
        let acked = out.alarms[0].1.as_ref().unwrap();
        assert_eq!(acked.ack.as_ref().unwrap().describe(), "console:alice at 2026-12-04 14:03 UTC");
        let err = e.command(Time::from_secs(61), "cli:bob", &Command::AckAlarm { id: 1 }).unwrap_err();
        assert!(err.contains("already acknowledged (by console:alice at"), "{err}");

        // A restart: a new engine, the journal's alarms back.
        let mut again = engine();
        again.set_wall_origin(1_796_392_920_000 + 120_000);
        let out = again.restore_alarms(Time::ZERO, kept(&e));
        assert!(out.events[0].reason.contains("2 alarm(s) kept from the earlier run (1 not acknowledged)"));
        // The standing conditions are found again: the same alarms, no new page.
        assert!(raise(&mut again, 10, "operator:db1").events.is_empty(), "acknowledged: stays acknowledged");
        assert!(raise(&mut again, 10, "quorum").events.is_empty(), "open: stays the one open alarm");
        let views = again.alarm_views();
        assert_eq!(views.len(), 2);
        let db1 = views.iter().find(|v| v.id == 1).unwrap();
        assert!(db1.acked && db1.acked_by.as_deref().unwrap().starts_with("console:alice"));
        assert_eq!(db1.age_ms, 129_000, "its age counts from when the earlier run raised it");
        // Once matched, it is an alarm of this run: a later episode pages again.
        let out = raise(&mut again, 20, "operator:db1");
        assert_eq!(out.events.len(), 1);
        assert!(matches!(out.events[0].kind, EventKind::Alarm { id: 3, .. }), "numbering goes on");
    }

    #[test]
    fn after_the_grace_an_acknowledged_alarm_of_the_earlier_run_does_not_hide_a_new_one() {
        let mut e = engine();
        raise(&mut e, 1, "fencefail:hv1");
        e.command(Time::from_secs(2), "console:alice", &Command::AckAlarm { id: 1 }).unwrap();
        let mut again = engine();
        again.restore_alarms(Time::ZERO, kept(&e));
        let late = RESTORE_GRACE.as_millis() as u64 / 1000 + 1;
        assert_eq!(raise(&mut again, late, "fencefail:hv1").events.len(), 1);
    }

    #[test]
    fn past_the_bound_the_oldest_acknowledged_alarm_is_dropped_from_the_journal_too() {
        let mut e = engine();
        raise(&mut e, 1, "first");
        e.command(Time::from_secs(1), "cli:root", &Command::AckAlarm { id: 1 }).unwrap();
        for i in 0..KEEP {
            let out = raise(&mut e, 2, &format!("k{i}"));
            if i + 1 == KEEP {
                assert_eq!(out.alarms.last(), Some(&(1, None)), "{:?}", out.alarms);
            }
        }
        assert_eq!(e.alarms.len(), KEEP);
    }
}
