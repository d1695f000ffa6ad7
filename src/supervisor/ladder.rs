//! The ladder's windows (and a VM's "paused since a failed migration" mark) across restarts
//! of 3RC. The engine keeps each restart, relocation and
//! reinstall as the time it leaves its window, on its own clock, which starts again at every
//! run; the inventory (and through it the journal) keeps them as wall-clock times. Both
//! directions of that conversion live here.

use crate::core::{Engine, LadderWindows, Time};
use crate::hv::clock::Clock;
use crate::store::inventory::Inventory;
use crate::store::LadderRow;
use std::time::Duration;

/// Seed the engine with the windows an earlier run left: each entry keeps the rest of its life.
pub(super) fn restore(engine: &mut Engine, inventory: &Inventory, clock: &dyn Clock) {
    for row in inventory.ladders() {
        restore_row(engine, &row, clock);
    }
}

/// One VM's windows, kept as wall-clock times (by an earlier run, or by the former leader),
/// into the engine.
pub(super) fn restore_row(engine: &mut Engine, row: &LadderRow, clock: &dyn Clock) {
    let (now, wall) = (clock.now(), clock.wall_ms());
    let here = |ts: &[u64]| -> Vec<Time> {
        ts.iter().filter(|t| **t > wall).map(|t| now.plus(Duration::from_millis(t - wall))).collect()
    };
    let w = LadderWindows {
        restarts: here(&row.restarts),
        relocations: here(&row.relocations),
        reinstalls: here(&row.reinstalls),
        paused_is_bad: row.paused_is_bad,
        guest_restarts: here(&row.guest_restarts),
    };
    engine.restore_ladder(&row.vm, w);
}

/// Keep the windows that changed since the last call in the inventory (queued to the journal);
/// the rows kept (for the shared store, with several supervisors).
pub(super) fn keep(engine: &mut Engine, inventory: &Inventory, clock: &dyn Clock) -> Vec<LadderRow> {
    let changes = engine.take_ladder_changes();
    if changes.is_empty() {
        return Vec::new();
    }
    let (now, wall) = (clock.now(), clock.wall_ms());
    let walls = |ts: Vec<Time>| -> Vec<u64> {
        ts.into_iter().filter(|t| *t > now).map(|t| wall + t.since(now).as_millis() as u64).collect()
    };
    let mut kept = Vec::with_capacity(changes.len());
    for (vm, w) in changes {
        let row = LadderRow {
            vm,
            restarts: walls(w.restarts),
            relocations: walls(w.relocations),
            reinstalls: walls(w.reinstalls),
            paused_is_bad: w.paused_is_bad,
            guest_restarts: walls(w.guest_restarts),
        };
        inventory.set_ladder(row.clone());
        kept.push(row);
    }
    kept
}
