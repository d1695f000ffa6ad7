//! Host state machine.
