//! The module stack of ikev2/src (ARCHITECTURE.md, "Layers import downward only"):
//!
//! consts, rng -> wire, crypto, auth, proposal -> event, output, config, timer -> sa -> context
//! -> exchange -> endpoint
//!
//! A module may import from its own layer and the layers before it, never from a later one. This
//! test reads the sources and names every `crate::` path and every `super::` that leaves its
//! top-level module and lands in a later layer.

use std::path::{Path, PathBuf};

const LAYERS: &[&[&str]] = &[
    &["consts", "rng"],
    &["wire", "crypto", "auth", "proposal"],
    &["event", "output", "config", "timer"],
    &["sa"],
    &["context"],
    &["exchange"],
    &["endpoint"],
];

/// Items lib.rs re-exports at the crate root, and the module each comes from.
const ROOT_REEXPORTS: &[(&str, &str)] = &[
    ("Config", "config"),
    ("Endpoint", "endpoint"),
    ("Event", "event"),
    ("FailureReason", "event"),
    ("Command", "output"),
    ("KernelEvent", "output"),
    ("KernelOp", "output"),
    ("Output", "output"),
    ("Rng", "rng"),
];

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

/// Drops `//` comments (doc comments included) so that prose naming a path does not count.
/// String literals that contain `//` are not expected in the sources this reads.
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules (or root items) a path continuing at `rest` names: one, or several
/// for `{a::x, b}`.
fn named_tops(rest: &str) -> Vec<String> {
    let rest = rest.trim_start();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut depth = 0usize;
        let mut items = Vec::new();
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    items.push(&inner[start..i]);
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        return items
            .into_iter()
            .map(|s| ident_at(s.trim()).to_string())
            .filter(|s| !s.is_empty())
            .collect();
    }
    vec![ident_at(rest).to_string()]
}

/// The module a top-level name resolves to (root re-exports followed).
fn resolve_top(name: &str) -> Option<&str> {
    if layer_of(name).is_some() {
        return LAYERS
            .iter()
            .flat_map(|l| l.iter())
            .copied()
            .find(|m| *m == name);
    }
    ROOT_REEXPORTS
        .iter()
        .find(|(item, _)| *item == name)
        .map(|(_, m)| *m)
}

/// Every upward import in `text`, the source of the module at `module` (path segments below
/// the crate root, e.g. `["exchange", "ike_auth"]`), as "line: import (why)".
fn violations(module: &[String], text: &str) -> Vec<String> {
    let Some(own_top) = module.first() else {
        return Vec::new(); // lib.rs sits above every layer
    };
    let Some(own_layer) = layer_of(own_top) else {
        return vec![format!(
            "0: top-level module '{own_top}' has no layer in LAYERS"
        )];
    };
    let code = strip_comments(text);
    let mut out = Vec::new();
    let mut check = |offset: usize, what: &str, tops: Vec<String>| {
        let line = code[..offset].matches('\n').count() + 1;
        for t in tops {
            match resolve_top(&t).and_then(|m| Some((m, layer_of(m)?))) {
                Some((m, l)) if l > own_layer => out.push(format!(
                    "{line}: {what} (layer of '{m}' is above '{own_top}')"
                )),
                Some(_) => {}
                None if t == "*" || t == "self" => {}
                None => out.push(format!("{line}: {what} (unknown crate item '{t}')")),
            }
        }
    };
    for (i, _) in code.match_indices("crate::") {
        if code[..i].ends_with('$')
            || code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
        {
            continue; // `$crate::` in macros, or an identifier ending in "crate"
        }
        let rest = &code[i + "crate::".len()..];
        let what: String = code[i..]
            .chars()
            .take_while(|c| !";\n".contains(*c))
            .collect();
        check(i, what.trim(), named_tops(rest));
    }
    // `super::` beyond the file's own module depth (plus inline `mod x {` blocks, which the
    // sources only use for tests at the end of a file) reaches the crate root.
    let mut i = 0;
    while let Some(pos) = code[i..].find("super::") {
        let at = i + pos;
        if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
            i = at + "super::".len();
            continue;
        }
        let mut rest = &code[at..];
        let mut ups = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            ups += 1;
            rest = r;
        }
        let inline = code[..at]
            .lines()
            .filter(|l| {
                let l = l.trim_start();
                let l = l
                    .strip_prefix("pub(crate) ")
                    .or(l.strip_prefix("pub "))
                    .unwrap_or(l);
                l.starts_with("mod ") && l.trim_end().ends_with('{')
            })
            .count();
        let depth = module.len() + inline;
        if ups >= depth {
            let what: String = code[at..]
                .chars()
                .take_while(|c| !";\n".contains(*c))
                .collect();
            check(at, what.trim(), named_tops(rest));
        }
        i = at + ups * "super::".len();
    }
    out
}

fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn m(path: &str) -> Vec<String> {
    path.split('/').map(String::from).collect()
}

#[test]
fn no_module_imports_from_a_later_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 50,
        "found only {} files under {}",
        files.len(),
        src.display()
    );
    let mut bad = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for v in violations(&module_of(&src, f), &text) {
            bad.push(format!("{}:{v}", f.strip_prefix(&src).unwrap().display()));
        }
    }
    assert!(
        bad.is_empty(),
        "upward imports in ikev2/src (the stack is {LAYERS:?}):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_check_catches_upward_imports() {
    let up = |module: &str, text: &str| violations(&m(module), text);
    // What this test was written against: state holding exchange types, handlers reaching
    // into the endpoint.
    assert_eq!(
        up(
            "sa",
            "pub reassembly: Option<crate::exchange::fragment::Reassembly>,"
        )
        .len(),
        1
    );
    assert_eq!(
        up("exchange/ike_auth", "use crate::endpoint::Core;").len(),
        1
    );
    assert_eq!(
        up("config", "use crate::{proposal::ProposalSet, sa::IkeSa};").len(),
        1
    );
    assert_eq!(
        up(
            "event",
            "use crate::{\n    proposal::Mismatch,\n    sa::status::X,\n};"
        )
        .len(),
        1
    );
    assert_eq!(up("timer", "fn f() -> crate::Endpoint<R> {}").len(), 1);
    assert_eq!(
        up("sa/child", "use super::super::exchange::After;").len(),
        1
    );
    assert_eq!(up("sa/child", "use crate::nothing_such;").len(), 1);
    // Downward, sideways, inside the own module and in comments is fine.
    assert!(up(
        "exchange/ike_auth",
        "use crate::context::Core;\nuse crate::sa::IkeSa;"
    )
    .is_empty());
    assert!(up("wire/id", "use crate::crypto::Secret;").is_empty());
    assert!(up("exchange/ike_auth/pubkey", "use super::ip_identity;").is_empty());
    assert!(up("sa", "mod tests {\n    use super::*;\n}").is_empty());
    assert!(up("sa", "/// see `crate::exchange::fragment`\nfn f() {}").is_empty());
    assert!(up("sa", "macro_rules! m { () => { $crate::endpoint::X } }").is_empty());
}
