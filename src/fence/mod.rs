//! Fence agents.
