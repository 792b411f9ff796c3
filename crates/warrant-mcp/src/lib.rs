//! warrant's MCP gateway: warrant in the path of every MCP tool call, with no change to the agent.
//!
//! The host (an IDE, a desktop assistant, an agent SDK) talks to the gateway as its MCP server; the gateway
//! talks to the real server (the upstream) and relays. It interprets little: `tools/list` answers are sorted
//! by the registry (an agent sees only the tools it holds a grant for, with the approved definition), every
//! `tools/call` is decided by the policy gate with its full arguments before the upstream sees it, and each
//! exchange is recorded as evidence. Everything else (the handshake, notifications, resources, prompts,
//! requests from the upstream to the host) passes through as it came.
//!
//! Why a hand-written relay and not `rmcp`: `rmcp`'s service layer parses every message into its typed model
//! and answers the handshake itself. A gateway must instead forward what it does not govern unchanged:
//! unknown fields, vendor `_meta`, methods and notifications of protocol versions newer than the SDK, and the
//! version the host and the upstream agree on. So the relay works on JSON-RPC values and reads only the
//! fields it governs; the protocol's semantics it relies on are in [`jsonrpc`] and [`session`].
//!
//! The gateway decides nothing itself: a [`Governor`] (the warrant server over HTTP, or the local store
//! in-process) sorts tool listings, decides calls and records events. If the governor cannot answer, the
//! call is not forwarded (fail closed).

pub mod bridge;
pub mod governor;
pub mod http;
pub mod jsonrpc;
pub mod session;
pub mod stdio;
pub mod upstream;
pub mod upstream_http;
pub mod upstream_stdio;

pub use governor::{Governor, GovernorError};
pub use session::{Gateway, GatewayConfig};
pub use upstream::UpstreamSpec;
