//! PROTOCOL.md §15 lists every error enum of core and of the wallet crate with every variant.
//! This test reads both — the `pub enum …Error` blocks of `core/src/` and `wallet/src/` and the
//! tables of §15 — and fails on any enum or
//! variant that one has and the other lacks, so the list is checked, not kept by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Variants = BTreeMap<String, BTreeSet<String>>;

/// The first identifier of `text` (a variant name before `{`, `(`, a space or a comma).
fn ident(text: &str) -> String {
    text.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

/// Every `pub enum NameError` in core's sources, with its variants (depth-one lines that start
/// with an identifier; attributes and comments skipped).
fn in_code(src: &Path) -> Variants {
    let mut found = Variants::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let Some(rest) = line.strip_prefix("pub enum ") else { continue };
            let name = ident(rest);
            if !name.ends_with("Error") {
                continue;
            }
            let mut variants = BTreeSet::new();
            let mut depth = 1i32;
            for line in lines.by_ref() {
                let trimmed = line.trim();
                let starts = trimmed.chars().next().is_some_and(|c| c.is_ascii_uppercase());
                if depth == 1 && starts {
                    variants.insert(ident(trimmed));
                }
                depth += line.matches(['{', '(']).count() as i32;
                depth -= line.matches(['}', ')']).count() as i32;
                if depth <= 0 {
                    break;
                }
            }
            found.insert(name, variants);
        }
    }
    found
}

/// The tables of §15: under each `### \`Name\`` heading, the first backticked word of each row's
/// variant cell; a table with an `Enum` column names the enum in it (empty: the row above's).
fn in_protocol(protocol: &str) -> Variants {
    let start = protocol.find("\n## 15. Errors").expect("PROTOCOL.md has §15");
    let end = protocol[start..].find("\n## 16.").map_or(protocol.len(), |e| start + e);
    let mut found = Variants::new();
    let mut heading: Vec<String> = Vec::new();
    let mut with_enum = false;
    let mut current = String::new();
    for line in protocol[start..end].lines() {
        if let Some(h) = line.strip_prefix("### ") {
            heading = h.split('`').skip(1).step_by(2).map(str::to_string).collect();
            continue;
        }
        if !line.starts_with('|') || line.starts_with("|---") {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.first() == Some(&"Variant") || cells.first() == Some(&"Enum") {
            with_enum = cells.first() == Some(&"Enum");
            continue;
        }
        let (enum_cell, variant_cell) =
            if with_enum { (cells[0], cells[1]) } else { ("", cells[0]) };
        if with_enum && !enum_cell.is_empty() {
            current = enum_cell.trim_matches('`').to_string();
        } else if !with_enum {
            current = heading.first().cloned().unwrap_or_default();
        }
        let variant = ident(variant_cell.trim_start_matches('`'));
        found.entry(current.clone()).or_default().insert(variant);
    }
    found
}

#[test]
fn protocol_section_15_lists_every_error_and_variant() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut code = in_code(&root.join("src"));
    code.extend(in_code(&root.join("../wallet/src")));
    let protocol = std::fs::read_to_string(root.join("../PROTOCOL.md")).unwrap();
    let doc = in_protocol(&protocol);
    assert!(code.len() >= 15, "found the error enums of core: {:?}", code.keys());
    let mut problems = Vec::new();
    for (name, variants) in &code {
        match doc.get(name) {
            None => problems.push(format!("{name} is not in §15")),
            Some(listed) => {
                for v in variants.difference(listed) {
                    problems.push(format!("{name}::{v} is not in §15"));
                }
                for v in listed.difference(variants) {
                    problems.push(format!("§15 lists {name}::{v}, which the code does not have"));
                }
            }
        }
    }
    for name in doc.keys().filter(|n| !code.contains_key(*n)) {
        problems.push(format!("§15 lists {name}, which neither core nor the wallet crate has"));
    }
    assert!(problems.is_empty(), "PROTOCOL.md §15 and core differ:\n{}", problems.join("\n"));
}
