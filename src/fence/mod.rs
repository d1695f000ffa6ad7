//! Fence agents.

pub mod demo;
