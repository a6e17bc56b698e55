//! The shape of the code, checked from its imports rather than by eye (issue 11, item 6): no
//! module imports one that imports it back, among the top-level modules and among the siblings
//! of each folder. A parent's `mod.rs` and its children may refer to each other (a registry and
//! the kinds it lists); nothing else may.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every module of `src/` by its path (`channels::webhook`), with the file it is in.
fn modules(root: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let relative = path.strip_prefix(root).unwrap().with_extension("");
            let mut segments: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if segments.last().is_some_and(|last| last == "mod") {
                segments.pop();
            }
            if matches!(segments.as_slice(), [only] if only == "lib" || only == "main") {
                continue;
            }
            if segments
                .last()
                .is_some_and(|last| last == "tests" || last == "contract")
            {
                // Test modules may use anything.
                continue;
            }
            found.insert(segments, path);
        }
    }
    found
}

/// The modules a file refers to through `crate::…` and `super::…` paths.
fn references(
    module: &[String],
    text: &str,
    known: &BTreeSet<Vec<String>>,
) -> BTreeSet<Vec<String>> {
    let code: String = text
        .lines()
        .take_while(|line| !line.starts_with("#[cfg(test)]"))
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", module[..module.len().saturating_sub(1)].to_vec()),
    ] {
        for (at, _) in code.match_indices(prefix) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[at + prefix.len()..];
            let mut path = base.clone();
            for segment in rest.split("::") {
                let name: String = segment
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if name.is_empty() {
                    break;
                }
                let mut longer = path.clone();
                longer.push(name);
                if !known.contains(&longer) {
                    break;
                }
                path = longer;
            }
            if !path.is_empty() {
                found.insert(path);
            }
        }
    }
    found
}

/// The edges between the groups `group` puts modules in, parents and children left out.
fn cycles(edges: &BTreeSet<(Vec<String>, Vec<String>)>) -> Vec<String> {
    let mut graph: BTreeMap<&Vec<String>, BTreeSet<&Vec<String>>> = BTreeMap::new();
    for (from, to) in edges {
        graph.entry(from).or_default().insert(to);
    }
    let mut found = Vec::new();
    for (from, tos) in &graph {
        for to in tos {
            // Is there a way back from `to` to `from`?
            let mut seen = BTreeSet::new();
            let mut stack = vec![*to];
            while let Some(at) = stack.pop() {
                if at == *from {
                    found.push(format!("{} <-> {}", from.join("::"), to.join("::")));
                    break;
                }
                if seen.insert(at) {
                    stack.extend(graph.get(at).into_iter().flatten().copied());
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&root);
    let known: BTreeSet<Vec<String>> = modules.keys().cloned().collect();
    let mut top = BTreeSet::new();
    let mut siblings = BTreeSet::new();
    for (module, path) in &modules {
        let text = std::fs::read_to_string(path).unwrap();
        for target in references(module, &text, &known) {
            // Top level: `channels::x` counts as `channels`.
            if module[0] != target[0] {
                top.insert((module[..1].to_vec(), target[..1].to_vec()));
            }
            // Siblings in one folder: `wording::facts` and `wording::rules`.
            let parent = &module[..module.len() - 1];
            if target.len() >= module.len()
                && &target[..module.len() - 1] == parent
                && target[..module.len()] != module[..]
                && module.len() > 1
            {
                siblings.insert((module.clone(), target[..module.len()].to_vec()));
            }
        }
    }
    assert!(top.len() > 10, "the scan found too few imports: {top:?}");
    assert_eq!(
        cycles(&top),
        Vec::<String>::new(),
        "top-level modules import each other"
    );
    assert_eq!(
        cycles(&siblings),
        Vec::<String>::new(),
        "sibling modules import each other"
    );
}
