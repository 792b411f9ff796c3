//! `warrant get`: one registry object as its manifest, or a collection as a table of its own columns.

use anyhow::anyhow;
use serde_json::Value;
use warrant_core::registry::manifest::Kind;

use crate::Failure;
use crate::cli::{Cli, Output};
use crate::client::{Client, encode};
use crate::output::{items, joined, print, table, text};

pub(super) fn get(cli: &Cli, client: &Client, collection: &str, id: Option<&str>) -> Result<(), Failure> {
    let kind = Kind::from_plural(collection)
        .or_else(|| Kind::from_plural(&format!("{collection}s")))
        .ok_or_else(|| {
            Failure::Usage(anyhow!(
                "unknown collection `{collection}`; use agents, tools, datasources or systems"
            ))
        })?;
    if let Some(id) = id {
        let answer = client.get(&format!("/v1/{}/{}", kind.plural(), encode(id)))?;
        // One object reads best as the manifest it is.
        let format = if cli.output == Output::Table {
            Output::Yaml
        } else {
            cli.output
        };
        print(format, &answer, |_| String::new());
        return Ok(());
    }
    let answer = client.get(&format!("/v1/{}", kind.plural()))?;
    print(cli.output, &answer, |answer| {
        let rows = items(answer);
        match kind {
            Kind::Agent => table(
                &["id", "owner", "risk", "scope", "status", "oversight", "tools"],
                rows.iter()
                    .map(|agent| {
                        let tools = joined(agent, "tools", |grant| {
                            format!("{}:{}", text(grant, "/tool"), text(grant, "/access"))
                        });
                        vec![
                            text(agent, "/id"),
                            text(agent, "/owner"),
                            text(agent, "/risk_class"),
                            text(agent, "/decision_scope"),
                            text(agent, "/status"),
                            text(agent, "/oversight"),
                            tools,
                        ]
                    })
                    .collect(),
            ),
            Kind::Tool => table(
                &[
                    "id",
                    "access",
                    "egress",
                    "irreversible",
                    "untrusted",
                    "sensitivity",
                    "supplier",
                ],
                rows.iter()
                    .map(|tool| {
                        vec![
                            text(tool, "/id"),
                            text(tool, "/access"),
                            text(tool, "/egress"),
                            text(tool, "/irreversible"),
                            text(tool, "/untrusted_output"),
                            text(tool, "/sensitivity"),
                            text(tool, "/supplier"),
                        ]
                    })
                    .collect(),
            ),
            Kind::DataSource => table(
                &["id", "sensitivity", "personal", "retention_days", "owner"],
                rows.iter()
                    .map(|source| {
                        vec![
                            text(source, "/id"),
                            text(source, "/sensitivity"),
                            text(source, "/personal_data"),
                            text(source, "/retention_days"),
                            text(source, "/owner"),
                        ]
                    })
                    .collect(),
            ),
            Kind::AISystem => table(
                &["id", "owner", "risk", "scope", "status", "model"],
                rows.iter()
                    .map(|system| {
                        vec![
                            text(system, "/id"),
                            text(system, "/owner"),
                            text(system, "/risk_class"),
                            text(system, "/decision_scope"),
                            text(system, "/status"),
                            text(system, "/model"),
                        ]
                    })
                    .collect(),
            ),
            Kind::Policy => table(
                &["id", "description"],
                rows.iter()
                    .map(|policy| vec![text(policy, "/id"), text(policy, "/description")])
                    .collect(),
            ),
            Kind::Group => table(
                &["id", "limits"],
                rows.iter()
                    .map(|group| {
                        let limits = joined(group, "limits", |limit| {
                            let (id, max, hours) = (
                                text(limit, "/id"),
                                text(limit, "/max_total"),
                                text(limit, "/window_hours"),
                            );
                            format!("{id}: {max} per {hours} h")
                        });
                        vec![text(group, "/id"), limits]
                    })
                    .collect(),
            ),
            Kind::AlertRule => table(
                &[
                    "id",
                    "detector",
                    "severity",
                    "agent",
                    "decision",
                    "threshold",
                    "enabled",
                ],
                rows.iter()
                    .map(|rule| {
                        vec![
                            text(rule, "/id"),
                            text(rule, "/detector"),
                            text(rule, "/severity"),
                            text(rule, "/agent"),
                            text(rule, "/decision"),
                            text(rule, "/threshold"),
                            text(rule, "/enabled"),
                        ]
                    })
                    .collect(),
            ),
            Kind::Applicability => table(
                &["control", "applicable", "owner", "justification"],
                rows.iter()
                    .map(|row| {
                        vec![
                            text(row, "/id"),
                            text(row, "/applicable"),
                            text(row, "/owner"),
                            text(row, "/justification"),
                        ]
                    })
                    .collect(),
            ),
            Kind::EvidenceRule => table(
                &["id", "controls", "fresh days", "description"],
                rows.iter()
                    .map(|rule| {
                        vec![
                            text(rule, "/id"),
                            rule.get("controls").map(Value::to_string).unwrap_or_default(),
                            text(rule, "/fresh_days"),
                            text(rule, "/description"),
                        ]
                    })
                    .collect(),
            ),
            Kind::IdentityProvider => table(
                &["id", "issuer", "audience", "agent claim", "keys"],
                rows.iter()
                    .map(|provider| {
                        let keys = provider
                            .get("jwks_file")
                            .or_else(|| provider.get("jwks_url"))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        vec![
                            text(provider, "/id"),
                            text(provider, "/issuer"),
                            text(provider, "/audience"),
                            text(provider, "/agent_claim"),
                            keys,
                        ]
                    })
                    .collect(),
            ),
            Kind::McpServer => table(
                &["id", "transport", "endpoint", "tools bound"],
                rows.iter()
                    .map(|server| {
                        let endpoint = server
                            .get("command")
                            .or_else(|| server.get("url"))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        let bound = server
                            .get("tools")
                            .and_then(Value::as_object)
                            .map_or(0, serde_json::Map::len);
                        vec![
                            text(server, "/id"),
                            text(server, "/transport"),
                            endpoint,
                            bound.to_string(),
                        ]
                    })
                    .collect(),
            ),
            Kind::Notifier => table(
                &["id", "audience", "format", "url", "topics"],
                rows.iter()
                    .map(|notifier| {
                        let topics = notifier
                            .get("topics")
                            .and_then(Value::as_array)
                            .map(|topics| {
                                topics
                                    .iter()
                                    .filter_map(Value::as_str)
                                    .collect::<Vec<_>>()
                                    .join(",")
                            })
                            .filter(|topics| !topics.is_empty())
                            .unwrap_or_else(|| "all".into());
                        vec![
                            text(notifier, "/id"),
                            text(notifier, "/audience"),
                            text(notifier, "/format"),
                            text(notifier, "/url"),
                            topics,
                        ]
                    })
                    .collect(),
            ),
            Kind::Witness => table(
                &["id", "operator", "url", "key"],
                rows.iter()
                    .map(|witness| {
                        vec![
                            text(witness, "/id"),
                            text(witness, "/operator"),
                            text(witness, "/url"),
                            text(witness, "/key"),
                        ]
                    })
                    .collect(),
            ),
            Kind::Obligation => table(
                &["task", "owner", "due", "status"],
                rows.iter()
                    .map(|obligation| {
                        vec![
                            text(obligation, "/id"),
                            text(obligation, "/owner"),
                            text(obligation, "/due"),
                            text(obligation, "/status"),
                        ]
                    })
                    .collect(),
            ),
            Kind::Organization => table(
                &[
                    "id",
                    "name",
                    "regulated",
                    "eu customers",
                    "iso 27001",
                    "log retention (days)",
                    "max group total",
                ],
                rows.iter()
                    .map(|organization| {
                        vec![
                            text(organization, "/id"),
                            text(organization, "/name"),
                            text(organization, "/regulated_industry"),
                            text(organization, "/eu_customers"),
                            text(organization, "/iso27001_certified"),
                            text(organization, "/log_retention_days"),
                            text(organization, "/max_group_total"),
                        ]
                    })
                    .collect(),
            ),
            Kind::Model => table(
                &[
                    "id",
                    "provider",
                    "input_usd_per_million",
                    "output_usd_per_million",
                ],
                rows.iter()
                    .map(|model| {
                        vec![
                            text(model, "/id"),
                            text(model, "/provider"),
                            text(model, "/input_usd_per_million"),
                            text(model, "/output_usd_per_million"),
                        ]
                    })
                    .collect(),
            ),
        }
    });
    Ok(())
}
