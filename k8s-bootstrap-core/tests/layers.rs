//! The top-level modules of k8s-bootstrap-core form layers; a module
//! imports only modules of lower layers (and, among the builders, each
//! other without a cycle):
//!
//! 0. `shell`, `tools`: leaves
//! 1. `model`: the value types everyone shares (imports only `shell`);
//!    `transport` (imports only `shell` and `tools`)
//! 2. the builders: `etcd`, `flannel`, `docker`, `hostprep`, `pki`
//! 3. `spec`: the cluster description, built from the builders' enums,
//!    and every `from_spec` constructor
//! 4. `render`: the whole cluster, through every builder
//! 5. `apply`, then 6. `adopt`, then 7. `error`
//!
//! These tests read every `.rs` file under `src/`, collect the `crate::X`
//! paths (and `super::` paths that climb to the crate root) outside
//! comments, string literals and `#[cfg(test)] mod` blocks, and fail when
//! the graph of top-level modules has a cycle or an edge goes up a layer,
//! with the file and line of every such edge. Doc links are comments and do
//! not count; test code may import what it likes (a builder's test may load
//! a spec), so `tests.rs` files are skipped as well.
//!
//! `cargo test -p k8s-bootstrap-core --test layers -- --nocapture` prints
//! the whole graph.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Where an import is: file (relative to the crate) and 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct At {
    file: String,
    line: usize,
}

/// from -> to -> every place `from` names `to`.
type Graph = BTreeMap<String, BTreeMap<String, Vec<At>>>;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file under `src/`: `a/mod.rs` and `a.rs` are
/// `[a]`, `a/b.rs` is `[a, b]`, `lib.rs` is `[]` (the crate root).
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

/// The source with comments (doc comments too), string and char literals
/// blanked out; newlines are kept so that offsets keep their line.
fn strip(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        let prev_ident = i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_');
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                blank(&mut out, b[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if !prev_ident && (c == 'r' || (c == 'b' && next == Some('r'))) && {
            // a raw string: r"..", r#".."#, br#".."#
            let mut j = i + if c == 'b' { 2 } else { 1 };
            while b.get(j) == Some(&'#') {
                j += 1;
            }
            b.get(j) == Some(&'"')
        } {
            let mut j = i + if c == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while b[j] == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1; // the opening quote
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for &ch in &b[i..j.min(b.len())] {
                blank(&mut out, ch);
            }
            i = j;
        } else if c == '"' {
            blank(&mut out, c);
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                if i < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
            if i < b.len() {
                blank(&mut out, b[i]);
                i += 1;
            }
        } else if c == '\'' && (next == Some('\\') || b.get(i + 2) == Some(&'\'')) {
            // a char literal ('x', '\n', '\u{1F600}'), not a lifetime
            let mut j = i + 1;
            if b[j] == '\\' {
                j += 1;
            }
            j += 1;
            while j < b.len() && b[j] != '\'' {
                j += 1;
            }
            for &ch in &b[i..(j + 1).min(b.len())] {
                blank(&mut out, ch);
            }
            i = j + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Blanks out `#[cfg(test)] mod name { ... }` blocks (of stripped code).
fn drop_test_modules(code: &str) -> String {
    let mut b: Vec<char> = code.chars().collect();
    let attr: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut i = 0;
    while i + attr.len() <= b.len() {
        if b[i..i + attr.len()] != attr[..] {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i + attr.len();
        let rest: String = b[j..].iter().take(200).collect();
        let trimmed = rest.trim_start();
        j += rest.len() - trimmed.len();
        let is_mod = trimmed.starts_with("mod ") || trimmed.starts_with("pub mod ") || trimmed.starts_with("pub(crate) mod ");
        let brace = b[j..].iter().position(|&c| c == '{' || c == ';').map(|k| j + k);
        match brace {
            Some(k) if is_mod && b[k] == '{' => {
                let mut depth = 0;
                let mut end = k;
                while end < b.len() {
                    match b[end] {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    end += 1;
                }
                let end = end.min(b.len() - 1);
                for c in &mut b[start..=end] {
                    if *c != '\n' {
                        *c = ' ';
                    }
                }
                i = end + 1;
            }
            _ => i += attr.len(),
        }
    }
    b.into_iter().collect()
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The first identifier at `s` (after blanks).
fn ident_at(s: &[char]) -> Option<String> {
    let s: Vec<char> = s.iter().copied().skip_while(|c| c.is_whitespace()).collect();
    let id: String = s.iter().take_while(|&&c| is_ident(c)).collect();
    (!id.is_empty()).then_some(id)
}

/// The first segment of each element of a `{a, b::c, d::{e, f}}` group that starts at `s[0] == '{'`.
fn group_heads(s: &[char]) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut at_start = true;
    for (k, &c) in s.iter().enumerate() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    at_start = true;
                    continue;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => {
                at_start = true;
                continue;
            }
            _ => {}
        }
        if depth == 1 && at_start && !c.is_whitespace() {
            at_start = false;
            if let Some(id) = ident_at(&s[k..]) {
                heads.push(id);
            }
        }
    }
    heads
}

/// The top-level modules `code` (stripped) names, with their line: from
/// `crate::X` paths and from `super::` chains that climb to the crate root
/// from a file at module path `here`.
fn imports(code: &str, here: &[String]) -> Vec<(String, usize)> {
    let b: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < b.len() {
        if b[i] == '\n' {
            line += 1;
            i += 1;
            continue;
        }
        let starts_path = i == 0 || !(is_ident(b[i - 1]) || b[i - 1] == '$' || b[i - 1] == ':');
        let word: String = b[i..].iter().take_while(|&&c| is_ident(c)).collect();
        if !starts_path || word.is_empty() {
            i += 1;
            continue;
        }
        let mut j = i + word.len();
        let after_root = if word == "crate" && b[j..].starts_with(&[':', ':']) {
            Some(j + 2)
        } else if word == "super" {
            // super::super::...::X climbs to the root when it has as many supers as `here` has segments
            let mut supers = 1;
            let mut k = j;
            while b[k..].starts_with(&[':', ':', 's', 'u', 'p', 'e', 'r']) && !b.get(k + 7).is_some_and(|&c| is_ident(c)) {
                supers += 1;
                k += 7;
            }
            j = k;
            (supers >= here.len() && b[k..].starts_with(&[':', ':'])).then_some(k + 2)
        } else {
            None
        };
        if let Some(p) = after_root {
            if b.get(p) == Some(&'{') {
                for h in group_heads(&b[p..]) {
                    out.push((h, line));
                }
            } else if let Some(id) = ident_at(&b[p..]) {
                out.push((id, line));
            }
        }
        i = j.max(i + 1);
    }
    out
}

/// The top-level modules of the crate (directories and `x.rs` files of `src/`).
fn top_modules() -> BTreeSet<String> {
    std::fs::read_dir(src_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            if p.is_dir() {
                Some(name)
            } else {
                name.strip_suffix(".rs").filter(|s| *s != "lib").map(str::to_string)
            }
        })
        .collect()
}

fn graph() -> Graph {
    let src = src_dir();
    let modules = top_modules();
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let mut g = Graph::new();
    for m in &modules {
        g.entry(m.clone()).or_default();
    }
    for path in files {
        let rel = path.strip_prefix(&src).unwrap();
        if rel.file_name().unwrap() == "tests.rs" {
            continue;
        }
        let here = module_path(rel);
        let Some(from) = here.first() else { continue }; // lib.rs: the root re-exports everyone
        let code = drop_test_modules(&strip(&std::fs::read_to_string(&path).unwrap()));
        for (to, line) in imports(&code, &here) {
            if &to != from && modules.contains(&to) {
                let at = At { file: format!("src/{}", rel.display()), line };
                g.entry(from.clone()).or_default().entry(to).or_default().push(at);
            }
        }
    }
    g
}

fn reachable(g: &Graph, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(m) = todo.pop() {
        for to in g.get(&m).into_iter().flat_map(|e| e.keys()) {
            if seen.insert(to.clone()) {
                todo.push(to.clone());
            }
        }
    }
    seen
}

/// The strongly connected components of more than one module.
fn cycles(g: &Graph) -> Vec<BTreeSet<String>> {
    let reach: BTreeMap<&String, BTreeSet<String>> = g.keys().map(|m| (m, reachable(g, m))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for m in g.keys() {
        if done.contains(m) || !reach[m].contains(m) {
            continue;
        }
        let scc: BTreeSet<String> = reach[m].iter().filter(|n| reach[*n].contains(m)).cloned().collect();
        done.extend(scc.iter().cloned());
        out.push(scc);
    }
    out
}

/// A shortest cycle through `start` inside `scc`.
fn shortest_cycle(g: &Graph, scc: &BTreeSet<String>, start: &str) -> Vec<String> {
    let mut prev: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = VecDeque::from([start.to_string()]);
    while let Some(m) = queue.pop_front() {
        for to in g[&m].keys().filter(|t| scc.contains(*t)) {
            if to == start {
                let mut path = vec![m.clone()];
                while let Some(p) = prev.get(path.last().unwrap()) {
                    path.push(p.clone());
                }
                path.reverse();
                path.push(start.to_string());
                return path;
            }
            if !prev.contains_key(to) && to != start {
                prev.insert(to.clone(), m.clone());
                queue.push_back(to.clone());
            }
        }
    }
    unreachable!("{start} is in a cycle")
}

fn show(g: &Graph) -> String {
    let mut s = String::new();
    for (from, to) in g {
        let _ = writeln!(s, "  {from} -> {}", to.keys().cloned().collect::<Vec<_>>().join(" "));
    }
    s
}

fn first(ats: &[At]) -> String {
    let more = if ats.len() > 1 { format!(" (+{} more)", ats.len() - 1) } else { String::new() };
    format!("{}:{}{more}", ats[0].file, ats[0].line)
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let g = graph();
    println!("module -> modules it imports:\n{}", show(&g));
    let found = cycles(&g);
    let mut report = String::new();
    for scc in &found {
        let _ = writeln!(report, "cycle among {{{}}}:", scc.iter().cloned().collect::<Vec<_>>().join(", "));
        let mut shown: BTreeSet<Vec<String>> = BTreeSet::new();
        for start in scc {
            let cycle = shortest_cycle(&g, scc, start);
            // the same cycle from another start is shown once
            let mut key = cycle[..cycle.len() - 1].to_vec();
            let min = (0..key.len()).min_by_key(|&i| &key[i]).unwrap();
            key.rotate_left(min);
            if !shown.insert(key) {
                continue;
            }
            let _ = writeln!(report, "  {}", cycle.join(" -> "));
            for w in cycle.windows(2) {
                let _ = writeln!(report, "    {} -> {}: {}", w[0], w[1], first(&g[&w[0]][&w[1]]));
            }
        }
    }
    assert!(found.is_empty(), "the modules of k8s-bootstrap-core import each other in a cycle:\n{report}");
}

#[test]
fn model_is_a_leaf() {
    let g = graph();
    let model = g.get("model").expect("src/model: the leaf module of shared value types");
    let bad: Vec<String> = model.iter().filter(|(to, _)| *to != "shell").map(|(to, ats)| format!("model -> {to}: {}", first(ats))).collect();
    assert!(bad.is_empty(), "model may import only shell:\n{}", bad.join("\n"));
}

/// Each top-level module's layer (see the file's docs). A new module needs a line here.
const LAYERS: &[(&str, u8)] = &[
    ("shell", 0),
    ("tools", 0),
    ("model", 1),
    ("transport", 1),
    ("etcd", 2),
    ("flannel", 2),
    ("docker", 2),
    ("hostprep", 2),
    ("pki", 2),
    ("spec", 3),
    ("render", 4),
    ("apply", 5),
    ("adopt", 6),
    ("error", 7),
];

#[test]
fn no_module_imports_a_higher_layer() {
    let g = graph();
    let layer = |m: &str| LAYERS.iter().find(|(n, _)| *n == m).map(|(_, l)| *l);
    let unknown: Vec<&String> = g.keys().filter(|m| layer(m).is_none()).collect();
    assert!(unknown.is_empty(), "put these modules in LAYERS (tests/layers.rs): {unknown:?}");
    let mut up = Vec::new();
    for (from, tos) in &g {
        for (to, ats) in tos {
            let (lf, lt) = (layer(from).unwrap(), layer(to).unwrap());
            // Within a layer only the builders may import each other (the cycle test keeps them acyclic).
            if lt > lf || (lt == lf && lf != 2) {
                up.push(format!("{from} (layer {lf}) -> {to} (layer {lt}): {}", first(ats)));
            }
        }
    }
    assert!(up.is_empty(), "imports that go up (or sideways) a layer:\n{}", up.join("\n"));
}

/// The reader itself: comments, strings and test modules do not count;
/// groups and `super::` chains do.
#[test]
fn reader_sees_only_real_paths() {
    let src = r####"
use crate::{alpha, beta::{B, C}, gamma::D};
/// [`crate::doc::Link`] in a doc comment
// crate::comment::X
/* crate::block::X /* nested crate::nested::X */ */
let s = "crate::string::X"; let r = r#"crate::raw::X "quoted""#; let c = '"'; let l: &'static str = "";
fn f() -> crate::delta::E { super::super::epsilon::F; super::zeta::G; $crate::macro_::H }
#[cfg(test)]
mod tests {
    use crate::test_only::X;
}
#[cfg(test)]
mod more;
pub(crate) fn g() { crate::eta::I }
"####;
    let found: Vec<(String, usize)> = imports(&drop_test_modules(&strip(src)), &["here".into(), "file".into()]);
    let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["alpha", "beta", "gamma", "delta", "epsilon", "eta"]);
    assert_eq!(found[3].1, 7);
    assert_eq!(found[5].1, 14);
    assert_eq!(module_path(Path::new("spec/mod.rs")), ["spec"]);
    assert_eq!(module_path(Path::new("spec/validate.rs")), ["spec", "validate"]);
    assert_eq!(module_path(Path::new("shell.rs")), ["shell"]);
}
