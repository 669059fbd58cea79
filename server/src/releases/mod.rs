//! Staged rollouts: the release plan's state machine (`plan`), the guard's
//! judgement (`guard`) and the `scheduler` that moves plans and applies
//! scheduled changes on time.

pub mod guard;
pub mod plan;
pub mod scheduler;
