//! The catalogs as data: ISO/IEC 42001 clauses and Annex A, EU AI Act articles with their dates, the NIST AI
//! RMF, warrant's crosswalk and the agent-governance areas, and the built-in evidence rules. The YAML files
//! in `crates/warrant-core/catalog/` are compiled in and parsed once; their descriptions are warrant's own
//! words (the ISO text is copyrighted), and a test checks the Annex A list against the reference CSV.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::rules::EvidenceRule;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Iso42001 {
    pub standard: String,
    pub note: String,
    pub clauses: Vec<Clause>,
    pub objectives: Vec<Objective>,
    pub controls: Vec<Control>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    pub id: String,
    pub title: String,
    pub subclauses: Vec<SubClause>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubClause {
    pub id: String,
    pub title: String,
    pub summary: String,
    /// An ISO/IEC 27001 management system usually carries much of it.
    pub iso27001: bool,
}

impl SubClause {
    /// A heading (6.1, 7.5, 9.2, 9.3) whose requirements sit in its numbered children.
    pub fn is_heading(&self, all: &[SubClause]) -> bool {
        let prefix = format!("{}.", self.id);
        all.iter().any(|other| other.id.starts_with(&prefix))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    pub id: String,
    pub title: String,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    pub id: String,
    pub title: String,
    pub objective: String,
    pub summary: String,
    pub iso27001: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EuAiAct {
    pub regulation: String,
    pub amended_by: String,
    pub note: String,
    pub articles: Vec<Article>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Article {
    pub id: String,
    pub number: String,
    pub title: String,
    pub roles: Vec<String>,
    pub summary: String,
    pub applies: Vec<Applies>,
}

/// When an article applies to one category of system, under the original text and as amended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Applies {
    pub category: String,
    pub original: NaiveDate,
    pub amended: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nist {
    pub framework: String,
    pub functions: Vec<NistFunction>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NistFunction {
    pub id: String,
    pub summary: String,
    pub categories: Vec<NistCategory>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NistCategory {
    pub id: String,
    pub title: String,
    pub iso: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crosswalk {
    pub note: String,
    pub articles: Vec<ArticleMap>,
    pub tasks: Vec<Task>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticleMap {
    pub article: String,
    pub supports: Vec<Support>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_covered: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Support {
    #[serde(rename = "ref")]
    pub reference: String,
    pub strength: String,
    pub why: String,
}

/// An obligation ISO/IEC 42001 does not cover, tracked as a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub id: String,
    pub article: String,
    pub title: String,
    pub description: String,
    pub applies_to: Vec<String>,
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Areas {
    pub areas: Vec<Area>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Area {
    pub id: String,
    pub title: String,
    pub refs: Vec<String>,
    pub agents_add: String,
    pub warrant: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub rules: Vec<EvidenceRule>,
}

/// Every catalog, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub iso: Iso42001,
    pub eu: EuAiAct,
    pub nist: Nist,
    pub crosswalk: Crosswalk,
    pub areas: Areas,
    pub rules: Vec<EvidenceRule>,
}

const ISO: &str = include_str!("../../catalog/iso42001.yaml");
const EU: &str = include_str!("../../catalog/eu_ai_act.yaml");
const NIST: &str = include_str!("../../catalog/nist_ai_rmf.yaml");
const CROSSWALK: &str = include_str!("../../catalog/crosswalk.yaml");
const AREAS: &str = include_str!("../../catalog/areas.yaml");
const RULES: &str = include_str!("../../catalog/evidence_rules.yaml");

fn parse<T: serde::de::DeserializeOwned>(name: &str, text: &str) -> Result<T, String> {
    serde_yaml_ng::from_str(text).map_err(|error| format!("catalog {name}: {error}"))
}

impl Catalog {
    /// The catalogs compiled into this binary (parsed on first use).
    pub fn builtin() -> Result<&'static Catalog, String> {
        static CATALOG: OnceLock<Result<Catalog, String>> = OnceLock::new();
        CATALOG.get_or_init(Catalog::parse).as_ref().map_err(Clone::clone)
    }

    fn parse() -> Result<Catalog, String> {
        let catalog = Catalog {
            iso: parse("iso42001.yaml", ISO)?,
            eu: parse("eu_ai_act.yaml", EU)?,
            nist: parse("nist_ai_rmf.yaml", NIST)?,
            crosswalk: parse("crosswalk.yaml", CROSSWALK)?,
            areas: parse("areas.yaml", AREAS)?,
            rules: parse::<Rules>("evidence_rules.yaml", RULES)?.rules,
        };
        catalog.check()?;
        Ok(catalog)
    }

    /// Every reference names something that exists.
    fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let mut refs: Vec<(&str, &str)> = Vec::new();
        for article in &self.crosswalk.articles {
            if self.article(&article.article).is_none() {
                problems.push(format!("crosswalk names unknown article {}", article.article));
            }
            refs.extend(
                article
                    .supports
                    .iter()
                    .map(|support| ("crosswalk", support.reference.as_str())),
            );
        }
        for function in &self.nist.functions {
            for category in &function.categories {
                refs.extend(category.iso.iter().map(|reference| ("nist", reference.as_str())));
            }
        }
        for area in &self.areas.areas {
            refs.extend(area.refs.iter().map(|reference| ("areas", reference.as_str())));
        }
        for rule in &self.rules {
            refs.extend(
                rule.controls
                    .iter()
                    .map(|reference| ("evidence rules", reference.as_str())),
            );
        }
        for (from, reference) in refs {
            if !self.is_iso_ref(reference) && self.article(reference).is_none() {
                problems.push(format!("{from} names unknown reference {reference}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    pub fn control(&self, id: &str) -> Option<&Control> {
        self.iso.controls.iter().find(|control| control.id == id)
    }

    pub fn subclause(&self, id: &str) -> Option<&SubClause> {
        self.iso
            .clauses
            .iter()
            .flat_map(|clause| clause.subclauses.iter())
            .find(|subclause| subclause.id == id)
    }

    pub fn article(&self, id: &str) -> Option<&Article> {
        self.eu.articles.iter().find(|article| article.id == id)
    }

    /// An Annex A control or a clause / sub-clause id.
    pub fn is_iso_ref(&self, id: &str) -> bool {
        self.control(id).is_some()
            || self.subclause(id).is_some()
            || self.iso.clauses.iter().any(|clause| clause.id == id)
    }

    /// The short title of a control, sub-clause or article.
    pub fn title(&self, id: &str) -> Option<&str> {
        self.control(id)
            .map(|control| control.title.as_str())
            .or_else(|| self.subclause(id).map(|subclause| subclause.title.as_str()))
            .or_else(|| self.article(id).map(|article| article.title.as_str()))
    }

    /// Every sub-clause that carries requirements (not the headings), in order.
    pub fn requirement_clauses(&self) -> Vec<&SubClause> {
        self.iso
            .clauses
            .iter()
            .flat_map(|clause| {
                clause
                    .subclauses
                    .iter()
                    .filter(|subclause| !subclause.is_heading(&clause.subclauses))
            })
            .collect()
    }

    /// Objective titles by id.
    pub fn objectives(&self) -> BTreeMap<&str, &str> {
        self.iso
            .objectives
            .iter()
            .map(|objective| (objective.id.as_str(), objective.title.as_str()))
            .collect()
    }
}
