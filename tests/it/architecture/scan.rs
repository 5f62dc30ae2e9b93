//! Reading Rust source the way the architecture test needs: comments and literals blanked
//! out, every path a file names made absolute (`use` trees expanded; `crate::`, `super::`,
//! `self::`, child modules and names a `use` bound resolved against the file's module), and
//! the `.store()` calls. Not a parser: enough of Rust's lexical rules for this tree, with its
//! own tests in the parent module.

use std::collections::HashMap;

/// The text with every comment and string or char literal replaced by spaces (newlines kept,
/// so offsets and line numbers stay those of the file).
pub(super) fn blank_comments_and_strings(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let end = if rest.starts_with(b"//") {
            i + rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            let mut j = i;
            while j < b.len() {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            j
        } else if let Some(hashes) = raw_string_start(b, i) {
            let open = i + b[i..].iter().position(|&c| c == b'"').unwrap() + 1;
            let close: Vec<u8> = std::iter::once(b'"').chain(vec![b'#'; hashes]).collect();
            let len = b[open..]
                .windows(close.len())
                .position(|w| w == close.as_slice());
            open + len.unwrap_or(b.len() - open) + close.len()
        } else if rest[0] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            j + 1
        } else if rest[0] == b'\'' && rest.get(1) == Some(&b'\\') {
            // `'\n'`, `'\''`, `'\u{1F600}'`: the quote after the escaped character closes it.
            let close = rest.iter().skip(3).position(|&c| c == b'\'');
            i + 3 + close.unwrap_or(0) + 1
        } else if rest[0] == b'\''
            && rest.len() > 2
            && char_len(&rest[1..]).is_some_and(|n| rest.get(1 + n) == Some(&b'\''))
        {
            i + 2 + char_len(&rest[1..]).unwrap()
        } else {
            i += 1;
            continue;
        };
        let end = end.min(b.len());
        blank(&mut out, i, end);
        i = end;
    }
    String::from_utf8(out).expect("only ASCII was written over whole characters")
}

/// `r"`, `r#"`, `br#"`… at `i` (not inside an identifier): how many `#`.
fn raw_string_start(b: &[u8], i: usize) -> Option<usize> {
    if i > 0 && is_ident(b[i - 1]) {
        return None;
    }
    let start = if b[i..].starts_with(b"br") {
        i + 2
    } else if b[i] == b'r' {
        i + 1
    } else {
        return None;
    };
    let hashes = b[start..].iter().take_while(|&&c| c == b'#').count();
    (b.get(start + hashes) == Some(&b'"')).then_some(hashes)
}

/// The byte length of the UTF-8 character starting `b`.
fn char_len(b: &[u8]) -> Option<usize> {
    let first = *b.first()?;
    Some(match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    })
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Offsets of `.store()` calls.
pub(super) fn store_calls(code: &str) -> Vec<usize> {
    let squeezed: Vec<(usize, char)> = code
        .char_indices()
        .filter(|(_, c)| !c.is_whitespace())
        .collect();
    let text: String = squeezed.iter().map(|(_, c)| c).collect();
    let offsets: Vec<usize> = squeezed.iter().map(|(o, _)| *o).collect();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(".store()") {
        found.push(offsets[from + at]);
        from += at + 1;
    }
    found
}

/// The tokens of Rust code that paths are made of, with their offsets.
fn tokens(code: &str) -> Vec<(usize, &str)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if is_ident(b[i]) {
            let start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            out.push((start, &code[start..i]));
        } else if b[i..].starts_with(b"::") {
            out.push((i, "::"));
            i += 2;
        } else if b[i].is_ascii_whitespace() {
            i += 1;
        } else {
            let len = char_len(&b[i..]).unwrap_or(1);
            out.push((i, &code[i..i + len]));
            i += len;
        }
    }
    out
}

/// Every path the file names, absolute where it can be resolved (`crate::…`), with the
/// offset where it is named.
pub(super) fn named_paths(name: &str, code: &str) -> Vec<(usize, String)> {
    let toks = tokens(code);
    let module = module_of(name);
    let inline = inline_modules(&toks);
    let module_at = |offset: usize| {
        let mut m = module.clone();
        let around = inline
            .iter()
            .filter(|(from, to, _)| *from < offset && offset < *to);
        m.extend(around.map(|(_, _, n)| n.clone()));
        m
    };
    // Names in scope, first: a `use` may come after the code that relies on it.
    let mut aliases: HashMap<String, String> = HashMap::new();
    for (offset, declared) in child_modules(&toks) {
        let mut path = module_at(offset);
        path.push(declared.clone());
        aliases.insert(declared, format!("crate::{}", path.join("::")));
    }
    let uses = use_statements(&toks);
    for (offset, _, tree) in &uses {
        for (path, bound) in tree {
            if let Some(bound) = bound {
                let absolute = resolve(path, &module_at(*offset), &HashMap::new());
                aliases.insert(bound.clone(), absolute);
            }
        }
    }
    let mut found = Vec::new();
    for (offset, _, tree) in &uses {
        for (path, _) in tree {
            found.push((*offset, resolve(path, &module_at(*offset), &aliases)));
        }
    }
    // Then every other path: `a::b::c` not itself after a `::`, outside `use` statements.
    let in_use = |i: usize| uses.iter().any(|(_, tokens, _)| tokens.contains(&i));
    let mut i = 0;
    while i < toks.len() {
        let (offset, tok) = toks[i];
        let starts_path = is_ident(tok.as_bytes()[0])
            && (i == 0 || toks[i - 1].1 != "::")
            && toks.get(i + 1).is_some_and(|t| t.1 == "::");
        if !starts_path || in_use(i) {
            i += 1;
            continue;
        }
        let mut path = vec![tok.to_owned()];
        let mut j = i + 1;
        while j + 1 < toks.len() && toks[j].1 == "::" && is_ident(toks[j + 1].1.as_bytes()[0]) {
            path.push(toks[j + 1].1.to_owned());
            j += 2;
        }
        found.push((offset, resolve(&path, &module_at(offset), &aliases)));
        i = j;
    }
    found
}

/// Every `use` statement: its offset, its tokens and its tree expanded.
fn use_statements(toks: &[(usize, &str)]) -> Vec<(usize, std::ops::Range<usize>, Vec<UsePath>)> {
    let mut found = Vec::new();
    for i in 0..toks.len() {
        if toks[i].1 == "use" && (i == 0 || toks[i - 1].1 != "::") {
            let end = (i..toks.len())
                .find(|&j| toks[j].1 == ";")
                .unwrap_or(toks.len());
            let mut tree = Vec::new();
            use_tree(&toks[i + 1..end], &[], &mut tree);
            found.push((toks[i].0, i..end, tree));
        }
    }
    found
}

/// `mod name;` and `mod name {`: the child modules a file declares, with their offsets.
fn child_modules(toks: &[(usize, &str)]) -> Vec<(usize, String)> {
    (toks.windows(3))
        .filter(|w| {
            w[0].1 == "mod" && is_ident(w[1].1.as_bytes()[0]) && matches!(w[2].1, ";" | "{")
        })
        .map(|w| (w[0].0, w[1].1.to_owned()))
        .collect()
}

/// `src/web/live/feed.rs` → `[web, live, feed]`; `mod.rs`, `lib.rs`, `main.rs` name their
/// directory.
fn module_of(name: &str) -> Vec<String> {
    let inner = name.trim_start_matches("src/").trim_end_matches(".rs");
    let mut parts: Vec<String> = inner.split('/').map(str::to_owned).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// `mod name { … }` blocks: (start, end, name).
fn inline_modules(toks: &[(usize, &str)]) -> Vec<(usize, usize, String)> {
    let mut found = Vec::new();
    for i in 0..toks.len().saturating_sub(2) {
        if toks[i].1 == "mod" && toks[i + 2].1 == "{" {
            let mut depth = 0;
            let end = (i + 2..toks.len()).find(|&j| {
                depth += match toks[j].1 {
                    "{" => 1,
                    "}" => -1,
                    _ => 0,
                };
                depth == 0
            });
            let end = end.map_or(usize::MAX, |j| toks[j].0);
            found.push((toks[i + 2].0, end, toks[i + 1].1.to_owned()));
        }
    }
    found
}

/// A path a `use` names, and the name it binds (none for a glob or `as _`).
type UsePath = (Vec<String>, Option<String>);

/// Expands a `use` tree (`a::{b, c::{self, d as e}, f::*}`) after `prefix`.
fn use_tree(toks: &[(usize, &str)], prefix: &[String], out: &mut Vec<UsePath>) {
    let mut path = prefix.to_vec();
    let mut i = 0;
    while i < toks.len() {
        match toks[i].1 {
            "{" => {
                let mut depth = 0;
                let mut start = i + 1;
                for j in i..toks.len() {
                    depth += match toks[j].1 {
                        "{" => 1,
                        "}" => -1,
                        _ => 0,
                    };
                    let closes = depth == 0;
                    if closes || (depth == 1 && toks[j].1 == ",") {
                        if start < j {
                            use_tree(&toks[start..j], &path, out);
                        }
                        start = j + 1;
                    }
                    if closes {
                        break;
                    }
                }
                return;
            }
            "*" => {
                out.push((path, None));
                return;
            }
            "as" => {
                let bound = toks.get(i + 1).map(|t| t.1.to_owned());
                out.push((path, bound.filter(|b| b != "_")));
                return;
            }
            // `{self, …}`: the prefix itself.
            "self" if i == 0 && !prefix.is_empty() => i += 1,
            ident if is_ident(ident.as_bytes()[0]) => {
                path.push(ident.to_owned());
                i += 1;
            }
            _ => i += 1,
        }
    }
    if !path.is_empty() {
        let bound = path.last().cloned();
        out.push((path, bound));
    }
}

/// Makes `path` absolute: `crate::…` stays, `self`/`super` climb from `module`, a name a
/// `use` bound is replaced by what it stands for; anything else (an external crate, a local
/// type) is returned as it is.
fn resolve(path: &[String], module: &[String], aliases: &HashMap<String, String>) -> String {
    let mut base: Vec<String> = module.to_vec();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => return path.join("::"),
        Some("self") => rest = &path[1..],
        Some("super") => {
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        Some(first) => match aliases.get(first) {
            Some(full) => {
                return std::iter::once(full.clone())
                    .chain(path[1..].iter().cloned())
                    .collect::<Vec<_>>()
                    .join("::");
            }
            None => return path.join("::"),
        },
        None => return String::new(),
    }
    std::iter::once("crate".to_owned())
        .chain(base)
        .chain(rest.iter().cloned())
        .collect::<Vec<_>>()
        .join("::")
}
