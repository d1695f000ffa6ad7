//! The pure core: models, the VM and host state machines with hysteresis, the escalation ladder,
//! placement, and the decision trace.
//!
//! Architecture invariant: nothing here does I/O, reads a clock, spawns, awaits, or knows about
//! libvirt. Time is an argument. Same inputs, same outputs, in the same order.

pub mod action;
pub mod alarms;
pub mod capacity;
pub mod commands;
pub mod consent;
pub mod decisions;
pub mod disarm;
pub mod engine;
pub mod event;
pub mod fencetrust;
pub mod guest;
pub mod host_fsm;
pub mod hostwork;
pub mod ladder;
pub mod model;
pub mod order;
pub mod outcomes;
pub mod placement;
pub mod quorum;
pub mod reinstall;
pub mod retry;
pub mod snapshot;
pub mod spare;
pub mod state;
pub mod storage;
#[cfg(test)]
mod testkit;
pub mod time;
pub mod vantage;
pub mod view;
pub mod view_delta;
pub mod vm_fsm;
pub mod window;

pub use action::{Action, ActionId, ActionKind, Command, Decider, Outcome};
pub use alarms::Alarm;
pub use consent::{Confirmation, Consent};
pub use decisions::{Decision, DecisionKey};
pub use engine::{Engine, Output};
pub use event::{Event, EventKind, Severity, Subject};
pub use ladder::LadderWindows;
pub use model::*;
pub use state::{HostState, VmState};
pub use time::Time;
pub use vantage::Vantage;
pub use view::*;
pub use view_delta::ViewDelta;
