//! warrant's domain model: the registry of agents, tools, data sources and AI systems, the change log, events
//! and roles. Pure and total: no I/O, no async, no panics on input; every operation returns a value or errors
//! that say what is wrong in words a user can act on.

pub mod change;
pub mod compliance;
pub mod enrich;
pub mod event;
pub mod gate;
pub mod identity;
pub mod incident;
pub mod mcp;
pub mod monitor;
pub mod notify;
pub mod registry;
pub mod reviews;
pub mod risk;
pub mod role;
pub mod trail;
