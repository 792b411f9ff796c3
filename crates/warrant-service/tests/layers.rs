//! The layers hold: crates depend only downwards (ARCHITECTURE.md, "Layers and the direction of calls"), and
//! the modules of the server, the service layer and the store form no import cycle.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// The `warrant-*` crates a crate depends on (normal dependencies only).
fn dependencies(krate: &str) -> BTreeSet<String> {
    let manifest = std::fs::read_to_string(crates_dir().join(krate).join("Cargo.toml")).unwrap();
    let mut in_dependencies = false;
    let mut found = BTreeSet::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        if in_dependencies
            && let Some(name) = line.split(['.', '=', ' ']).next()
            && name.starts_with("warrant-")
        {
            found.insert(name.to_owned());
        }
    }
    found
}

#[test]
fn crates_depend_only_downwards() {
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("warrant-log", &[][..]),
        ("warrant-api", &["warrant-log"][..]),
        ("warrant-core", &["warrant-log"][..]),
        ("warrant-otlp", &["warrant-core"][..]),
        // The MCP relay knows the wire types only: it asks a `Governor` for every decision.
        ("warrant-mcp", &["warrant-api", "warrant-log"][..]),
        ("warrant-store", &["warrant-core", "warrant-log"][..]),
        (
            "warrant-service",
            &["warrant-api", "warrant-core", "warrant-log", "warrant-store"][..],
        ),
        (
            "warrant-server",
            &[
                "warrant-api",
                "warrant-core",
                "warrant-log",
                "warrant-mcp",
                "warrant-otlp",
                "warrant-service",
                "warrant-store",
            ][..],
        ),
    ]);
    for (krate, allowed) in &allowed {
        let extra: Vec<String> = dependencies(krate)
            .into_iter()
            .filter(|dependency| !allowed.contains(&dependency.as_str()))
            .collect();
        assert!(
            extra.is_empty(),
            "{krate} depends on {extra:?}, above or beside it"
        );
    }
}

/// Module → the modules of the same crate it names through `crate::` (comments ignored; a module naming its
/// own parent or child is not an edge).
fn module_graph(krate: &str) -> BTreeMap<String, BTreeSet<String>> {
    let root = crates_dir().join(krate).join("src");
    let mut sources = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                let relative = path.strip_prefix(&root).unwrap().with_extension("");
                let name = relative.to_string_lossy().replace('/', "::");
                if name != "lib" && name != "main" {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let code: Vec<&str> = text
                        .lines()
                        .filter(|line| !line.trim_start().starts_with("//"))
                        .collect();
                    sources.insert(name, code.join("\n"));
                }
            }
        }
    }
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, code) in &sources {
        let mut edges = BTreeSet::new();
        for (index, _) in code.match_indices("crate::") {
            let path: String = code[index + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || *c == ':')
                .collect();
            let parts: Vec<&str> = path.split("::").filter(|part| !part.is_empty()).collect();
            for length in (1..=parts.len()).rev() {
                let candidate = parts[..length].join("::");
                if modules.contains(&candidate) {
                    let related = candidate == *module
                        || module.starts_with(&format!("{candidate}::"))
                        || candidate.starts_with(&format!("{module}::"));
                    if !related {
                        edges.insert(candidate);
                    }
                    break;
                }
            }
        }
        graph.insert(module.clone(), edges);
    }
    graph
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let start = path.iter().position(|step| step == next).unwrap();
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(cycle) = visit(next, graph, state, path) {
                        return Some(cycle);
                    }
                }
            }
        }
        path.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node.as_str())
            && let Some(cycle) = visit(node, graph, &mut state, &mut Vec::new())
        {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn the_server_the_service_layer_the_store_and_the_mcp_relay_have_no_module_cycles() {
    for krate in [
        "warrant-server",
        "warrant-service",
        "warrant-store",
        "warrant-mcp",
    ] {
        let graph = module_graph(krate);
        assert!(graph.len() > 3, "{krate}: found only {} modules", graph.len());
        if let Some(cycle) = find_cycle(&graph) {
            panic!(
                "{krate}: modules import each other in a cycle: {}",
                cycle.join(" -> ")
            );
        }
    }
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let graph = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]);
    assert_eq!(find_cycle(&graph), Some(vec!["a".into(), "b".into(), "a".into()]));
}
