//! Demo fault injection at the backend boundary.
