//! What the control API manipulates: injected faults and request counters.

pub mod counters;
pub mod faults;
