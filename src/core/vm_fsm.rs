//! VM state machine.
