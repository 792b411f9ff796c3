//! Risk analysis over the tool-access graph: where confidential data can leave, where untrusted input meets
//! consequential tools, irreversible actions without a human, authority that only adds up across agents,
//! how far a cascade of agents reaches, and what the log shows that the registry does not declare.
//!
//! The graph (petgraph) follows the direction data and control flow:
//! - a data source, or a tool that reads, `reads` into each agent that holds it;
//! - untrusted input `feeds` each tool whose output nobody vouches for;
//! - an agent `writes` or `sends` through each tool it holds (`sends` for external egress);
//! - an external-egress tool `sends` to the outside;
//! - an agent `triggers` each downstream agent.
//!
//! Findings carry a stable id (kind and subject), a severity, the path as evidence, the controls they
//! concern, whether the policy gate mitigates them today, and a suggested treatment.

pub mod impact;
pub mod register;

mod classification;
mod findings;
mod graph;

pub use classification::{Classification, classify};
pub use findings::{AccessTarget, Finding, Observed, ObservedAccess, analyze};
pub use graph::{AccessGraph, Edge, Node};

// The impact assessment reads the gate's controls as the findings do.
use findings::{approval_policy, group_limit, rule_name};
