//! Fencing: making sure a host is off before its VMs run elsewhere.
//!
//! Architecture invariant: a VM is never started elsewhere until its old host is fenced by an
//! agent or a person confirmed it off; that rule lives in the core, and the agents here only
//! report honestly (status before off; "already off" counts as fenced).

pub mod agent;
pub mod process;
pub mod soft;
pub mod witness;
