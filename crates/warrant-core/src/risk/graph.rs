//! The tool-access graph of a registry's active agents: data sources, tools, agents, the outside and untrusted
//! input as nodes, and the way data and control flow between them as edges; with its DOT and JSON renderings.

use std::collections::BTreeMap;

use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;

use crate::registry::manifest::{Access, Agent, Egress, Sensitivity, Status};
use crate::registry::{Registry, sensitivity_name};

/// A node of the tool-access graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Node {
    DataSource {
        id: String,
        sensitivity: Sensitivity,
    },
    Tool {
        id: String,
    },
    Agent {
        id: String,
    },
    /// Anywhere outside the organisation.
    External,
    /// Content nobody vouches for: inbound mail, web pages, third-party text.
    UntrustedInput,
}

impl Node {
    pub fn label(&self) -> String {
        match self {
            Node::DataSource { id, .. } => format!("datasource:{id}"),
            Node::Tool { id } => format!("tool:{id}"),
            Node::Agent { id } => format!("agent:{id}"),
            Node::External => "external".into(),
            Node::UntrustedInput => "untrusted-input".into(),
        }
    }
}

/// What an edge means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Edge {
    Reads,
    Feeds,
    Writes,
    Sends,
    Triggers,
}

/// The tool-access graph of a registry (active agents only).
pub struct AccessGraph {
    pub graph: DiGraph<Node, Edge>,
    index: BTreeMap<String, NodeIndex>,
}

impl AccessGraph {
    pub fn build(registry: &Registry) -> AccessGraph {
        let mut graph = AccessGraph {
            graph: DiGraph::new(),
            index: BTreeMap::new(),
        };
        let external = graph.node(Node::External);
        let untrusted = graph.node(Node::UntrustedInput);
        for agent in active_agents(registry) {
            let agent_node = graph.node(Node::Agent { id: agent.id.clone() });
            for source in &agent.data_sources {
                let sensitivity = registry
                    .data_source(source)
                    .map(|source| source.sensitivity)
                    .unwrap_or_default();
                let node = graph.node(Node::DataSource {
                    id: source.clone(),
                    sensitivity,
                });
                graph.edge(node, agent_node, Edge::Reads);
            }
            for grant in &agent.tools {
                let Some(tool) = registry.tool(&grant.tool) else {
                    continue;
                };
                let tool_node = graph.node(Node::Tool { id: tool.id.clone() });
                if tool.access == Access::Read || grant.access == Access::Read {
                    graph.edge(tool_node, agent_node, Edge::Reads);
                }
                if tool.access > Access::Read && grant.access > Access::Read {
                    let edge = if tool.egress == Egress::External {
                        Edge::Sends
                    } else {
                        Edge::Writes
                    };
                    graph.edge(agent_node, tool_node, edge);
                } else if tool.egress == Egress::External {
                    // A read tool with external egress (a web search, a screening vendor) still sends what the
                    // agent puts in its arguments out of the organisation.
                    graph.edge(agent_node, tool_node, Edge::Sends);
                }
                if tool.egress == Egress::External {
                    graph.edge(tool_node, external, Edge::Sends);
                }
                if tool.untrusted_output {
                    graph.edge(untrusted, tool_node, Edge::Feeds);
                }
            }
            for downstream in &agent.downstream {
                let target = graph.node(Node::Agent {
                    id: downstream.clone(),
                });
                graph.edge(agent_node, target, Edge::Triggers);
            }
        }
        graph
    }

    fn node(&mut self, node: Node) -> NodeIndex {
        let label = node.label();
        if let Some(index) = self.index.get(&label) {
            return *index;
        }
        let index = self.graph.add_node(node);
        self.index.insert(label, index);
        index
    }

    fn edge(&mut self, from: NodeIndex, to: NodeIndex, edge: Edge) {
        if self.graph.find_edge(from, to).is_none() {
            self.graph.add_edge(from, to, edge);
        }
    }

    /// Graphviz DOT.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph access {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
        for index in self.graph.node_indices() {
            let Some(node) = self.graph.node_weight(index) else {
                continue;
            };
            let (shape, extra) = match node {
                Node::DataSource { sensitivity, .. } => {
                    ("cylinder", format!("\\n{}", sensitivity_name(*sensitivity)))
                }
                Node::Tool { .. } => ("box", String::new()),
                Node::Agent { .. } => ("ellipse", String::new()),
                Node::External | Node::UntrustedInput => ("octagon", String::new()),
            };
            out.push_str(&format!(
                "  n{} [label=\"{}{extra}\", shape={shape}];\n",
                index.index(),
                node.label().replace('"', "'")
            ));
        }
        for edge in self.graph.edge_indices() {
            let (Some((from, to)), Some(kind)) =
                (self.graph.edge_endpoints(edge), self.graph.edge_weight(edge))
            else {
                continue;
            };
            out.push_str(&format!(
                "  n{} -> n{} [label=\"{}\"];\n",
                from.index(),
                to.index(),
                edge_name(*kind)
            ));
        }
        out.push_str("}\n");
        out
    }

    /// Nodes and edges as JSON-ready values.
    pub fn to_json(&self) -> serde_json::Value {
        let nodes: Vec<serde_json::Value> = self
            .graph
            .node_indices()
            .filter_map(|index| {
                self.graph
                    .node_weight(index)
                    .map(|node| serde_json::json!({"id": node.label(), "node": node}))
            })
            .collect();
        let edges: Vec<serde_json::Value> = self
            .graph
            .edge_indices()
            .filter_map(|edge| {
                let (from, to) = self.graph.edge_endpoints(edge)?;
                Some(serde_json::json!({
                    "from": self.graph.node_weight(from)?.label(),
                    "to": self.graph.node_weight(to)?.label(),
                    "edge": self.graph.edge_weight(edge)?,
                }))
            })
            .collect();
        serde_json::json!({"nodes": nodes, "edges": edges})
    }
}

pub(super) fn active_agents(registry: &Registry) -> impl Iterator<Item = &Agent> {
    registry.agents().filter(|agent| agent.status == Status::Active)
}

fn edge_name(edge: Edge) -> &'static str {
    match edge {
        Edge::Reads => "reads",
        Edge::Feeds => "feeds",
        Edge::Writes => "writes",
        Edge::Sends => "sends",
        Edge::Triggers => "triggers",
    }
}
