//! Which top-level module of a crate names which, read from the source, and the cycles among
//! them. A module is its file (`src/foo.rs` or `src/foo/mod.rs`) with its submodules; it names
//! another by any `crate::` or `super::` path that reaches it, in a `use` or in an expression, a
//! type, a macro, or a string of an attribute (`#[serde(with = "crate::genesis::json_u64")]`
//! calls that code). Comments, doc attributes and code under `#[cfg(test)]` do not count: tests
//! may reach anywhere.
//!
//! Not a parser of Rust: a lexer that knows comments, strings, chars and brackets is enough to
//! find paths. A name re-exported by the crate root and used as `crate::Name` is not followed
//! to its module.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::path::{Path, PathBuf};

/// For each top-level module, the modules it names, each with where it first does.
pub(crate) type Graph = BTreeMap<String, BTreeMap<String, Place>>;

/// Where a module names another: the first place, and how many places in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    pub(crate) file: PathBuf,
    pub(crate) line: usize,
    pub(crate) count: usize,
}

/// The graph of the crate whose root file is `root` (`lib.rs`, `main.rs`, a binary), read by
/// following its `mod` declarations, so that a file no build compiles, or only tests do, is
/// not read.
pub(crate) fn crate_graph(root: &Path) -> io::Result<Graph> {
    let read = |file: &Path| {
        std::fs::read_to_string(file)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", file.display())))
    };
    let text = read(root)?;
    let top = scan(&text, &[]);
    let modules: BTreeSet<String> = (top.declared.iter().map(|d| d.path[0].clone()))
        .chain(top.inline.iter().cloned())
        .collect();
    let mut graph: Graph = modules.iter().map(|m| (m.clone(), BTreeMap::new())).collect();
    let mut add = |file: &Path, refs: Vec<Ref>| {
        for Ref { from, to, line } in refs {
            if from == to || !modules.contains(&to) {
                continue;
            }
            let Some(edges) = graph.get_mut(&from) else { continue };
            edges.entry(to).and_modify(|p| p.count += 1).or_insert(Place {
                file: file.to_owned(),
                line,
                count: 1,
            });
        }
    };
    add(root, top.refs);
    let dir = root.parent().unwrap_or(Path::new("."));
    let mut queue: VecDeque<(PathBuf, Vec<String>)> = VecDeque::new();
    for decl in top.declared {
        queue.push_back((module_file(root, dir, &decl)?, decl.path));
    }
    while let Some((file, path)) = queue.pop_front() {
        let found = scan(&read(&file)?, &path);
        add(&file, found.refs);
        // A `mod.rs` keeps its children beside it; `foo.rs` keeps them in `foo/`.
        let dir = match file.parent() {
            Some(dir) if file.ends_with("mod.rs") => dir.to_owned(),
            _ => file.with_extension(""),
        };
        for decl in found.declared {
            let child = module_file(&file, &dir, &decl)?;
            queue.push_back((child, path.iter().chain(&decl.path).cloned().collect()));
        }
    }
    Ok(graph)
}

/// The file of a `mod` declared in `parent`: `#[path]`'s, beside `parent`, or else `dir/a/b.rs`
/// or `dir/a/b/mod.rs` for a `mod b;` inside an inline `mod a`.
fn module_file(parent: &Path, dir: &Path, decl: &Decl) -> io::Result<PathBuf> {
    if let Some(path) = &decl.file {
        return Ok(parent.with_file_name(path));
    }
    let base = decl.path.iter().fold(dir.to_owned(), |dir, name| dir.join(name));
    let flat = base.with_extension("rs");
    if flat.exists() {
        return Ok(flat);
    }
    let nested = base.join("mod.rs");
    if nested.exists() {
        return Ok(nested);
    }
    let what =
        format!("`mod {}` in {}: no {}", decl.path.join("::"), parent.display(), flat.display());
    Err(io::Error::new(io::ErrorKind::NotFound, what))
}

/// The groups of modules that reach each other (strongly connected components of more than
/// one module), each sorted. Graphs here have tens of modules: reachability from each is enough.
pub(crate) fn tangles(graph: &Graph) -> Vec<Vec<String>> {
    let reach: BTreeMap<&String, BTreeSet<&String>> =
        graph.keys().map(|m| (m, reachable(graph, m))).collect();
    let mut placed = BTreeSet::new();
    let mut out = Vec::new();
    for m in graph.keys() {
        if placed.contains(m) {
            continue;
        }
        let group: Vec<String> = (graph.keys())
            .filter(|n| *n == m || (reach[m].contains(n) && reach[n].contains(m)))
            .cloned()
            .collect();
        placed.extend(group.iter().cloned());
        if group.len() > 1 {
            out.push(group);
        }
    }
    out
}

/// The modules reachable from `from` by one edge or more.
fn reachable<'a>(graph: &'a Graph, from: &String) -> BTreeSet<&'a String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&String> = graph.get(from).into_iter().flat_map(|e| e.keys()).collect();
    while let Some(m) = todo.pop() {
        if seen.insert(m) {
            todo.extend(graph.get(m).into_iter().flat_map(|e| e.keys()));
        }
    }
    seen
}

/// Cycles within `tangle` (`[a, b, c, a]`) that together take every edge between its modules,
/// shortest first: each edge is a place where the tangle could be cut, and each must be seen.
pub(crate) fn cycles(graph: &Graph, tangle: &[String]) -> Vec<Vec<String>> {
    let inside = |m: &String| tangle.contains(m);
    let mut left: BTreeSet<(&String, &String)> = (graph.iter())
        .filter(|(from, _)| inside(from))
        .flat_map(|(from, edges)| edges.keys().filter(|to| inside(to)).map(move |to| (from, to)))
        .collect();
    let mut out = Vec::new();
    while !left.is_empty() {
        // Through every edge left, the shortest way back; keep the shortest of those.
        let Some(cycle) = (left.iter())
            .filter_map(|(from, to)| {
                let back = shortest_path(graph, tangle, to, from)?;
                Some(std::iter::once((*from).clone()).chain(back).collect::<Vec<_>>())
            })
            .min_by_key(|cycle| cycle.len())
        else {
            break;
        };
        for pair in cycle.windows(2) {
            left.retain(|(a, b)| !(**a == pair[0] && **b == pair[1]));
        }
        out.push(cycle);
    }
    out
}

/// The shortest path `[from, …, to]` within `within`, by breadth-first search.
fn shortest_path(
    graph: &Graph,
    within: &[String],
    from: &String,
    to: &String,
) -> Option<Vec<String>> {
    let mut came: BTreeMap<&String, &String> = BTreeMap::new();
    let mut queue = VecDeque::from([from]);
    while let Some(m) = queue.pop_front() {
        if m == to {
            let mut path = vec![to.clone()];
            let mut at = to;
            while at != from {
                at = came[at];
                path.push(at.clone());
            }
            path.reverse();
            return Some(path);
        }
        for next in graph.get(m).into_iter().flat_map(|e| e.keys()) {
            if within.contains(next) && next != from && !came.contains_key(next) {
                came.insert(next, m);
                queue.push_back(next);
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Reading one file
// ---------------------------------------------------------------------------------------------

/// What one file says about modules.
#[derive(Debug, Default)]
struct Scan {
    /// Each path into a top-level module.
    refs: Vec<Ref>,
    /// Its `mod NAME;` declarations, outside test code.
    declared: Vec<Decl>,
    /// Its inline `mod NAME { … }` at the top of the file, outside test code: in a crate root,
    /// top-level modules without a file.
    inline: Vec<String>,
}

/// Code of top-level module `from`, at `line`, names `to`: a top-level module if `to` is one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ref {
    from: String,
    to: String,
    line: usize,
}

/// A `mod NAME;`: its path below the declaring file's module (inline modules, then `NAME`), and
/// its `#[path]` if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decl {
    path: Vec<String>,
    file: Option<String>,
}

/// Reads the source of the module at `module` (empty for the crate root, `["net"]` for
/// `src/net.rs`, `["net", "frame"]` for `src/net/frame.rs`).
fn scan(src: &str, module: &[String]) -> Scan {
    let toks = lex(src, 0);
    let mut out = Scan::default();
    // The inline modules the scan is in, and for each open bracket whether it opened one.
    let mut inline: Vec<String> = Vec::new();
    let mut brackets: Vec<bool> = Vec::new();
    let mut opens_mod = None;
    let mut test_item = false;
    let mut path_attr = None;
    let mut i = 0;
    while let Some(tok) = toks.get(i) {
        let here = || -> Vec<String> { module.iter().chain(&inline).cloned().collect() };
        if let Some(attr) = attribute(&toks, i) {
            if attr.test && attr.inner && brackets.is_empty() {
                return Scan::default();
            }
            test_item |= attr.test && !attr.inner;
            if !test_item {
                path_attr = attr.path.clone().or(path_attr);
                let here = here();
                for (to, line) in attr.paths(&toks, &here) {
                    out.push_ref(&here, to, line);
                }
            }
            i = attr.end;
            continue;
        }
        if test_item {
            i = skip_item(&toks, i);
            (test_item, path_attr) = (false, None);
            continue;
        }
        match &tok.kind {
            Kind::Ident(word) if word == "mod" => {
                if let Some(Kind::Ident(name)) = toks.get(i + 1).map(|t| &t.kind) {
                    match toks.get(i + 2).map(|t| &t.kind) {
                        Some(Kind::Punct(';')) => out.declared.push(Decl {
                            path: inline.iter().chain([name]).cloned().collect(),
                            file: path_attr.take(),
                        }),
                        Some(Kind::Open('{')) => opens_mod = Some(name.clone()),
                        _ => {}
                    }
                }
            }
            Kind::Open(_) => {
                brackets.push(opens_mod.is_some());
                if let Some(name) = opens_mod.take() {
                    if brackets.len() == 1 {
                        out.inline.push(name.clone());
                    }
                    inline.push(name);
                }
            }
            Kind::Close(_) => {
                let closes_mod = brackets.pop() == Some(true);
                if closes_mod {
                    inline.pop();
                }
            }
            Kind::Ident(word) if word == "crate" || word == "super" => {
                let here = here();
                for (to, line) in path_at(&toks, i, &here) {
                    out.push_ref(&here, to, line);
                }
            }
            _ => {}
        }
        // An item without a `mod` (a `fn`, a `struct`) takes no `#[path]` further.
        if matches!(tok.kind, Kind::Punct(';') | Kind::Close(_)) {
            path_attr = None;
        }
        i += 1;
    }
    out
}

impl Scan {
    /// Keeps a path found in the code of `here`; code of the crate root is no module's.
    fn push_ref(&mut self, here: &[String], to: String, line: usize) {
        if let Some(from) = here.first() {
            self.refs.push(Ref { from: from.clone(), to, line });
        }
    }
}

/// The top-level modules named by the path that starts at `toks[i]`, if it is a `crate::` or
/// `super::` path (not the tail of a longer one, nor `pub(crate)`), as seen from `here`, each
/// with its line: the first name after `crate::`, or every first name of a `crate::{a, b::c}`
/// group; `super::` goes up from `here`, and names a top-level module only when it climbs to
/// the crate root.
fn path_at(toks: &[Token], i: usize, here: &[String]) -> Vec<(String, usize)> {
    let kind = |j: usize| toks.get(j).map(|t| &t.kind);
    let is_word = |j: usize, w: &str| matches!(kind(j), Some(Kind::Ident(x)) if x == w);
    let starts = is_word(i, "crate") || is_word(i, "super");
    if !starts || kind(i + 1) != Some(&Kind::Sep) || (i > 0 && kind(i - 1) == Some(&Kind::Sep)) {
        return Vec::new();
    }
    let mut j = i + 2;
    if is_word(i, "super") {
        // How deep the module that the `super`s name is: 0 is the crate root.
        let mut depth = here.len().checked_sub(1);
        while is_word(j, "super") && kind(j + 1) == Some(&Kind::Sep) {
            depth = depth.and_then(|n| n.checked_sub(1));
            j += 2;
        }
        // Still inside a top-level module (or above the root: not Rust): nothing crosses.
        if depth != Some(0) {
            return Vec::new();
        }
    }
    match toks.get(j) {
        Some(Token { kind: Kind::Ident(name), line }) => vec![(name.clone(), *line)],
        Some(Token { kind: Kind::Open('{'), .. }) => group_heads(&toks[j + 1..]),
        _ => Vec::new(),
    }
}

/// The first name of each item of a `{a, b::c, d::{e}}` group, from just after its `{`.
fn group_heads(toks: &[Token]) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let (mut depth, mut item_start) = (0usize, true);
    for tok in toks {
        match &tok.kind {
            Kind::Open(_) => depth += 1,
            Kind::Close(_) if depth == 0 => break,
            Kind::Close(_) => depth -= 1,
            Kind::Punct(',') if depth == 0 => {
                item_start = true;
                continue;
            }
            Kind::Ident(name) if depth == 0 && item_start && name != "self" => {
                out.push((name.clone(), tok.line));
            }
            _ => {}
        }
        item_start = false;
    }
    out
}

/// An attribute `#[…]` or `#![…]`, read at its `#`.
#[derive(Debug)]
struct Attr {
    /// Just past its `]`.
    end: usize,
    inner: bool,
    /// `cfg(test)` or `cfg(all(…, test, …))`: the item under it exists only in tests.
    test: bool,
    /// `#[doc = "…"]`: a comment, whatever paths it mentions.
    doc: bool,
    /// `#[path = "…"]`'s file.
    path: Option<String>,
    body: std::ops::Range<usize>,
}

fn attribute(toks: &[Token], i: usize) -> Option<Attr> {
    let kind = |j: usize| toks.get(j).map(|t| &t.kind);
    if kind(i) != Some(&Kind::Punct('#')) {
        return None;
    }
    let inner = kind(i + 1) == Some(&Kind::Punct('!'));
    let open = if inner { i + 2 } else { i + 1 };
    if kind(open) != Some(&Kind::Open('[')) {
        return None;
    }
    let mut depth = 0usize;
    let close = (open..toks.len()).find(|&j| {
        match kind(j) {
            Some(Kind::Open(_)) => depth += 1,
            Some(Kind::Close(_)) => depth -= 1,
            _ => {}
        }
        depth == 0
    })?;
    let body = &toks[open + 1..close];
    let word =
        |j: usize, w: &str| matches!(body.get(j).map(|t| &t.kind), Some(Kind::Ident(x)) if x == w);
    let test = word(0, "cfg")
        && ((word(2, "test") && body.len() == 4) || (word(2, "all") && all_has_test(&body[3..])));
    let path = match body.iter().map(|t| &t.kind).collect::<Vec<_>>()[..] {
        [Kind::Ident(p), Kind::Punct('='), Kind::Str(file)] if p == "path" => Some(file.clone()),
        _ => None,
    };
    Some(Attr { end: close + 1, inner, test, doc: word(0, "doc"), path, body: open + 1..close })
}

/// Whether `(…)` at the start of `toks` holds `test` directly among its items.
fn all_has_test(toks: &[Token]) -> bool {
    let mut depth = 0usize;
    for tok in toks {
        match &tok.kind {
            Kind::Open(_) => depth += 1,
            Kind::Close(_) if depth == 1 => return false,
            Kind::Close(_) => depth -= 1,
            Kind::Ident(w) if depth == 1 && w == "test" => return true,
            _ => {}
        }
    }
    false
}

impl Attr {
    /// The paths in the attribute, those in its strings included (a serde `with`, a
    /// `deserialize_with` name code), except in a doc attribute.
    fn paths(&self, toks: &[Token], here: &[String]) -> Vec<(String, usize)> {
        let body = &toks[self.body.clone()];
        let mut out = Vec::new();
        for (j, tok) in body.iter().enumerate() {
            match &tok.kind {
                Kind::Str(text) if !self.doc => {
                    let inner = lex(text, tok.line - 1);
                    out.extend((0..inner.len()).flat_map(|k| path_at(&inner, k, here)));
                }
                _ => out.extend(path_at(body, j, here)),
            }
        }
        out
    }
}

/// Where the item that starts at `toks[i]` ends: after its `;`, its closing `}`, or the `,`
/// that ends a field or an arm, or at the `}` that closes what holds it.
fn skip_item(toks: &[Token], i: usize) -> usize {
    let (mut depth, mut angle) = (0usize, 0usize);
    for (j, tok) in toks.iter().enumerate().skip(i) {
        match tok.kind {
            Kind::Open(_) => depth += 1,
            Kind::Close(_) if depth == 0 => return j,
            Kind::Close(c) => {
                depth -= 1;
                if depth == 0 && c == '}' {
                    return j + 1;
                }
            }
            Kind::Punct(';') if depth == 0 => return j + 1,
            // Generics' commas (`impl<A, B>`) do not end the item.
            Kind::Punct('<') if depth == 0 => angle += 1,
            Kind::Punct('>') if depth == 0 => angle = angle.saturating_sub(1),
            Kind::Punct(',') if depth == 0 && angle == 0 => return j + 1,
            _ => {}
        }
    }
    toks.len()
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    kind: Kind,
    line: usize,
}

/// As much of Rust's tokens as paths need. Comments, numbers, chars and lifetimes are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Ident(String),
    /// `::`
    Sep,
    Open(char),
    Close(char),
    /// A string literal's contents, escapes left as written.
    Str(String),
    Punct(char),
}

/// The tokens of `src`, numbering lines from `line + 1`.
fn lex(src: &str, line: usize) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, line + 1);
    let mut push = |kind, line| out.push(Token { kind, line });
    while let Some(c) = at(i) {
        let start = line;
        match (c, at(i + 1)) {
            ('\n', _) => {
                line += 1;
                i += 1;
            }
            (c, _) if c.is_whitespace() => i += 1,
            ('/', Some('/')) => {
                while at(i).is_some_and(|c| c != '\n') {
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                // Block comments nest.
                let mut depth = 0;
                while let Some(c) = at(i) {
                    match (c, at(i + 1)) {
                        ('/', Some('*')) => (depth, i) = (depth + 1, i + 2),
                        ('*', Some('/')) => (depth, i) = (depth - 1, i + 2),
                        ('\n', _) => (line, i) = (line + 1, i + 1),
                        _ => i += 1,
                    }
                    if depth == 0 {
                        break;
                    }
                }
            }
            ('"', _) => {
                let (text, end) = quoted(&chars, i + 1, None);
                line += text.matches('\n').count();
                push(Kind::Str(text), start);
                i = end;
            }
            ('\'', Some('\\')) => {
                // An escaped char: `'\''`, `'\\'`, `'\u{7f}'`.
                i += 3;
                while at(i).is_some_and(|c| c != '\'') {
                    i += 1;
                }
                i += 1;
            }
            // A char (`'"'`, `'{'`), else a lifetime or a label, whose name lexes as a word.
            ('\'', _) if at(i + 2) == Some('\'') => i += 3,
            ('\'', _) => i += 1,
            (c, _) if c.is_alphabetic() || c == '_' => {
                let end = (i..).find(|&j| !at(j).is_some_and(|c| c.is_alphanumeric() || c == '_'));
                let end = end.unwrap_or(chars.len());
                let word: String = chars[i..end].iter().collect();
                let hashes = (end..).take_while(|&j| at(j) == Some('#')).count();
                let raw = matches!(word.as_str(), "r" | "br" | "cr");
                if raw && at(end + hashes) == Some('"') {
                    let (text, after) = quoted(&chars, end + hashes + 1, Some(hashes));
                    line += text.matches('\n').count();
                    push(Kind::Str(text), start);
                    i = after;
                } else if matches!(word.as_str(), "b" | "c") && at(end) == Some('"') {
                    i = end;
                } else if word == "r" && hashes == 1 {
                    // A raw identifier, `r#type`: the word after the `#`.
                    i = end + 1;
                } else {
                    push(Kind::Ident(word), start);
                    i = end;
                }
            }
            (c, _) if c.is_ascii_digit() => {
                while at(i).is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    i += 1;
                }
            }
            (':', Some(':')) => {
                push(Kind::Sep, start);
                i += 2;
            }
            ('(' | '[' | '{', _) => {
                push(Kind::Open(c), start);
                i += 1;
            }
            (')' | ']' | '}', _) => {
                push(Kind::Close(c), start);
                i += 1;
            }
            (c, _) => {
                push(Kind::Punct(c), start);
                i += 1;
            }
        }
    }
    out
}

/// A string's contents from `chars[start]`, just past its opening quote, and the index past its
/// closing one: raw with `Some(hashes)` (ends at `"` and that many `#`), else with escapes.
fn quoted(chars: &[char], start: usize, raw: Option<usize>) -> (String, usize) {
    let mut i = start;
    while let Some(&c) = chars.get(i) {
        match (c, raw) {
            ('\\', None) => i += 2,
            ('"', None) => return (chars[start..i].iter().collect(), i + 1),
            ('"', Some(n)) if (1..=n).all(|k| chars.get(i + k) == Some(&'#')) => {
                return (chars[start..i].iter().collect(), i + 1 + n);
            }
            _ => i += 1,
        }
    }
    (chars[start.min(chars.len())..].iter().collect(), chars.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `(to, line)` of every path that `src`, the file of `module`, names.
    fn check(module: &[&str], src: &str, expected: &[(&str, usize)]) {
        let module: Vec<String> = module.iter().map(|m| m.to_string()).collect();
        let found = scan(src, &module);
        let found: Vec<(&str, usize)> =
            found.refs.iter().map(|r| (r.to.as_str(), r.line)).collect();
        assert_eq!(found, expected, "in:\n{src}");
    }

    #[test]
    fn reads_use_groups() {
        check(
            &["a"],
            "use crate::{b, c::d, e::{f, g}, self};\nuse crate::h::I;",
            &[("b", 1), ("c", 1), ("e", 1), ("h", 2)],
        );
        check(&["a"], "use crate::*;\npub(crate) fn f() {}\npub(super) fn g() {}", &[]);
    }

    #[test]
    fn reads_paths_in_code() {
        let src = "fn f() -> crate::tx::Tx {\n    let x = crate::state::apply(1);\n    \
                   $crate::merkle::root()\n}";
        check(&["block"], src, &[("tx", 1), ("state", 2), ("merkle", 3)]);
    }

    #[test]
    fn reads_attribute_strings() {
        let src = "struct P {\n    #[cfg_attr(feature = \"std\", serde(with = \
                   \"crate::genesis::json_u64\"))]\n    slot: u64,\n}";
        check(&["params"], src, &[("genesis", 2)]);
        // A doc attribute is a comment; a string in code is text.
        check(&["params"], "#[doc = \"see crate::state\"]\nfn f() { g(\"crate::tx\") }", &[]);
    }

    #[test]
    fn skips_comments_strings_and_chars() {
        let src = "// crate::a\n/// [crate::b]\n//! crate::c\n/* crate::d /* crate::e */ \
                   crate::f */\nlet q = '\"'; let s = r#\"crate::g\"#; let t: &'static str = \
                   \"\\\"crate::h\";\nuse crate::i;";
        check(&["x"], src, &[("i", 6)]);
    }

    #[test]
    fn skips_test_code() {
        let src = "use crate::a;\n#[cfg(test)]\nmod tests {\n    use crate::b;\n    fn f() { \
                   crate::c::g() }\n}\n#[cfg(all(test, feature = \"std\"))]\nmod served { use \
                   crate::d; }\n#[cfg(test)]\nuse crate::e;\n#[cfg(test)]\nimpl<A, B> X<A, B> { \
                   fn f() { crate::f::g() } }\n#[cfg(any(test, feature = \"std\"))]\nuse \
                   crate::g;\nfn h() { crate::h::i() }";
        check(&["x"], src, &[("a", 1), ("g", 14), ("h", 15)]);
        check(&["x"], "#![cfg(test)]\nuse crate::a;", &[]);
    }

    #[test]
    fn resolves_super() {
        // In `src/net/frame.rs`: `super` is `net`, `super::super` the crate root.
        let src = "use super::Frame;\nuse super::super::shared::Shared;\nuse super::super::{a, b};";
        check(&["net", "frame"], src, &[("shared", 2), ("a", 3), ("b", 3)]);
        // In `src/net.rs`, `super` is the root; in an inline module of it, `super` is `net`.
        check(
            &["net"],
            "use super::shared;\nmod inner {\n    use super::peer;\n}",
            &[("shared", 1)],
        );
    }

    #[test]
    fn reads_mod_declarations() {
        let src = "pub mod a;\n#[cfg(test)]\nmod tests;\nmod b {\n    mod c;\n}\n\
                   #[path = \"x/d.rs\"]\nmod d;\n#[cfg(target_arch = \"wasm32\")]\npub mod e;";
        let found = scan(src, &[]);
        let decl = |path: &[&str], file: Option<&str>| Decl {
            path: path.iter().map(|p| p.to_string()).collect(),
            file: file.map(str::to_owned),
        };
        assert_eq!(
            found.declared,
            [
                decl(&["a"], None),
                decl(&["b", "c"], None),
                decl(&["d"], Some("x/d.rs")),
                decl(&["e"], None),
            ]
        );
        assert_eq!(found.inline, ["b"]);
    }

    fn graph(edges: &[(&str, &str)]) -> Graph {
        let mut graph = Graph::new();
        for (from, to) in edges {
            graph.entry(to.to_string()).or_default();
            let place = Place { file: "f.rs".into(), line: 1, count: 1 };
            graph.entry(from.to_string()).or_default().insert(to.to_string(), place);
        }
        graph
    }

    #[test]
    fn finds_cycles() {
        let names = |v: &[&str]| v.iter().map(|m| m.to_string()).collect::<Vec<_>>();
        // a → b → c → a and c ⇄ d form one tangle; e → a hangs off it; f → g is no cycle.
        let edges =
            [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "c"), ("e", "a"), ("f", "g")];
        let g = graph(&edges);
        let found = tangles(&g);
        assert_eq!(found, [names(&["a", "b", "c", "d"])]);
        assert_eq!(cycles(&g, &found[0]), [names(&["c", "d", "c"]), names(&["a", "b", "c", "a"])]);
        assert_eq!(tangles(&graph(&[("a", "b"), ("b", "c")])), [] as [Vec<String>; 0]);
    }

    #[test]
    fn xtask_has_no_cycle() {
        let graph = crate_graph(&crate::workspace_root().join("xtask/src/main.rs"))
            .expect("xtask's sources are readable");
        let modules: Vec<&str> = graph.keys().map(String::as_str).collect();
        let all = [
            "bench", "chart", "checks", "flags", "fuzz", "image", "run", "soak", "testnet",
            "tools", "wasm",
        ];
        assert_eq!(modules, all);
        assert!(graph["checks"].contains_key("run"));
        assert!(graph["run"].is_empty(), "the runner needs no other module");
        assert_eq!(tangles(&graph), [] as [Vec<String>; 0]);
    }
}
