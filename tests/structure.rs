//! The layering of `src/`, checked from the source text (ARCHITECTURE.md describes it): the
//! top-level modules form no cycle, no two sibling modules import each other, checkpoints
//! import nothing from the dataflow outside their own folder, and results never import views.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`dataflow::checkpoint`) of every `.rs` file under `src/`, with its text.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().with_extension("");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if matches!(
            parts.last().map(String::as_str),
            Some("mod" | "lib" | "main")
        ) {
            parts.pop();
        }
        out.insert(parts.join("::"), std::fs::read_to_string(&f).unwrap());
    }
    out
}

/// The code of a file without comments (line comments and doc comments).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Paths named after `crate::` and `super::` in `module`'s code, made absolute.
fn references(module: &str, text: &str) -> BTreeSet<String> {
    let code = code(text);
    let mut out = BTreeSet::new();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent(module))] {
        let mut rest = code.as_str();
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().next_back();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let path: String = rest.chars().take_while(|&c| ident(c)).collect();
            // `use super::{a, b::c}`: each name in the braces (one level is enough here).
            let names: Vec<String> = match rest[path.len()..].strip_prefix('{') {
                Some(inner) => inner[..inner.find('}').unwrap_or(0)]
                    .split(',')
                    .map(|n| format!("{path}{}", n.trim()))
                    .collect(),
                None => vec![path],
            };
            for name in names {
                let segs: Vec<&str> = name
                    .split("::")
                    .filter(|s| !s.is_empty() && *s != "self" && *s != "*")
                    .collect();
                // A glob or `self` of the parent itself (`use super::*` in an inline test
                // module means the file's own module): nothing to add.
                if segs.is_empty() {
                    continue;
                }
                let mut full = base.clone();
                full.extend(segs.iter().map(|s| s.to_string()));
                out.insert(full.join("::"));
            }
        }
    }
    out
}

fn parent(module: &str) -> Vec<String> {
    let mut p: Vec<String> = module.split("::").map(str::to_owned).collect();
    p.pop();
    p
}

/// The module a path names: its longest prefix that is a module.
fn module_of(path: &str, mods: &BTreeMap<String, String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|p| mods.contains_key(p))
}

fn within(module: &str, folder: &str) -> bool {
    module == folder || module.starts_with(&format!("{folder}::"))
}

/// `(from, to)` module edges.
fn edges() -> (BTreeMap<String, String>, BTreeSet<(String, String)>) {
    let mods = modules();
    let mut e = BTreeSet::new();
    for (m, text) in &mods {
        for r in references(m, text) {
            if let Some(to) = module_of(&r, &mods) {
                if &to != m {
                    e.insert((m.clone(), to));
                }
            }
        }
    }
    (mods, e)
}

fn top(m: &str) -> &str {
    m.split("::").next().unwrap()
}

#[test]
fn top_level_modules_form_no_cycle() {
    let (_, e) = edges();
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (a, b) in &e {
        if top(a) != top(b) && !top(a).is_empty() && !top(b).is_empty() {
            graph.entry(top(a)).or_default().insert(top(b));
        }
    }
    // Depth-first search for a back edge.
    fn visit<'a>(
        n: &'a str,
        g: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if let Some(i) = path.iter().position(|p| *p == n) {
            panic!("import cycle: {} -> {n}", path[i..].join(" -> "));
        }
        if !done.insert(n) {
            return;
        }
        path.push(n);
        for m in g.get(n).into_iter().flatten() {
            visit(m, g, path, done);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        visit(n, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn no_two_sibling_modules_import_each_other() {
    let (mods, e) = edges();
    // Each edge, lifted to the two children of the deepest common ancestor.
    let lift = |a: &str, b: &str| -> Option<(String, String)> {
        let (pa, pb): (Vec<&str>, Vec<&str>) = (a.split("::").collect(), b.split("::").collect());
        let common = pa.iter().zip(&pb).take_while(|(x, y)| x == y).count();
        // One is inside the other (a parent and its child): Rust's own shape, not a cycle.
        if common == pa.len() || common == pb.len() {
            return None;
        }
        Some((pa[..=common].join("::"), pb[..=common].join("::")))
    };
    let lifted: BTreeSet<(String, String)> = e.iter().filter_map(|(a, b)| lift(a, b)).collect();
    let both: Vec<_> = lifted
        .iter()
        .filter(|(a, b)| a < b && lifted.contains(&(b.clone(), a.clone())))
        .collect();
    assert!(both.is_empty(), "modules importing each other: {both:?}");
    assert!(
        mods.contains_key("dataflow::checkpoint"),
        "the walk found the tree"
    );
}

#[test]
fn checkpoints_and_results_import_only_downward() {
    let (_, e) = edges();
    for (a, b) in &e {
        if within(a, "dataflow::checkpoint") {
            assert!(
                !within(b, "dataflow") || within(b, "dataflow::checkpoint"),
                "{a} imports {b}"
            );
        }
        if within(a, "results") {
            assert!(!within(b, "views"), "{a} imports {b}");
        }
    }
}
