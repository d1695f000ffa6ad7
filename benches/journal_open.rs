//! Opening the journal at start, the `quick_check` that finds a damaged one included, on
//! journals of 10,000 to 1,000,000 events (a busy cluster writes a few thousand a day).
//! Figures, not assertions: `cargo bench --bench journal_open`.

use rusqlite::{params, Connection};
use std::time::Instant;
use threerc::store::Journal;

fn main() {
    // `cargo test` runs benches once, unoptimised, without `--bench`: the smallest size only.
    let quick = std::env::args().all(|a| a != "--bench");
    let sizes: &[u64] = if quick { &[10_000] } else { &[10_000, 100_000, 1_000_000] };
    for &events in sizes {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        drop(Journal::open(&path).unwrap());
        {
            let mut c = Connection::open(&path).unwrap();
            let tx = c.transaction().unwrap();
            {
                let mut q = tx
                    .prepare("INSERT INTO events (run, wall, at, subject, text, json) VALUES (1, ?1, ?2, ?3, ?4, ?5)")
                    .unwrap();
                for i in 0..events {
                    let text =
                        format!("{}.0s vm web{} Healthy -> Suspect: 1 failed probe (crashed), threshold 3", i, i % 500);
                    q.execute(params![i as f64, i as i64, format!("vm web{}", i % 500), text, "{}"]).unwrap();
                }
            }
            tx.commit().unwrap();
        }
        let size = std::fs::metadata(&path).unwrap().len();
        let mut times = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let (j, rec, _f) = Journal::open(&path).unwrap();
            times.push(t.elapsed());
            assert!(rec.damaged.is_none());
            drop(j);
        }
        times.sort();
        println!(
            "journal_open: {events:>9} events, {:>6.1} MiB: open (quick_check, read back, start the run) median {:>7.1} ms",
            size as f64 / (1 << 20) as f64,
            times[1].as_secs_f64() * 1000.0
        );
    }
}
