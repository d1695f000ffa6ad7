//! Physical to virtual: turn a physical machine (over SSH) or a disk (image file or block
//! device) into a VM on a target host, and put it under HA.
//!
//! `source` reaches the source and takes its inventory; `plan` holds the answers and checks
//! them (the one place where answers are validated); `copy` streams the disks
//! into the target's pool through libvirt's upload stream (cold, or warm: a first pass while
//! the source runs, then only the changed blocks with the source stopped); `define` writes the
//! domain XML; `run` carries a plan out and removes what it made if it fails or is cancelled;
//! `wizard` is the step machine the console drives (keys in, effects out).

pub mod copy;
pub mod define;
pub mod inventory;
pub mod plan;
pub mod run;
pub mod source;
pub mod wizard;
