//! Constraint witnesses over a change. Being written.
