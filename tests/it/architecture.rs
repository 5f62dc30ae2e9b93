//! ARCHITECTURE.md's "Architecture invariant" lines about which module may name which,
//! checked on the source. Every `.rs` file under `src/` is read with its comments and string
//! literals blanked out; every path it names — `use` trees expanded, `crate::`, `super::` and
//! `self::` resolved against the file's module, names a `use` brought in followed — is held
//! against [`RULES`], and every `.store()` call against [`STORE_CALLS_ALLOWED_IN`]. A
//! violation fails the test naming file, line and invariant.
//!
//! Self-contained on purpose (no shared test harness): it only reads files.

mod scan;

use std::path::{Path, PathBuf};

use scan::{blank_comments_and_strings, named_paths, store_calls};

/// One invariant: files under `modules` (but not under `except`) must not name any path in
/// `forbidden`, nor anything under it.
struct Rule {
    invariant: &'static str,
    modules: &'static [&'static str],
    except: &'static [&'static str],
    forbidden: &'static [&'static str],
}

const DOORS: &[&str] = &["src/web/", "src/cloud/", "src/slicer/"];
const DRIVERS: &[&str] = &[
    "crate::printer::serial",
    "crate::printer::octoprint",
    "crate::printer::moonraker",
    "crate::printer::bambu",
    "crate::printer::sim",
    "crate::printer::builtin",
];
/// Everything below the doors: the domain, the store, the actors and drivers, the analysis,
/// the config, and the gateway itself.
const CORE: &[&str] = &[
    "src/domain/",
    "src/events.rs",
    "src/jobs/",
    "src/printer/",
    "src/gcode/",
    "src/config/",
    "src/files.rs",
    "src/platform/",
    "src/gateway/",
];

const RULES: &[Rule] = &[
    Rule {
        invariant: "doors reach the job store only through `Gateway`",
        modules: &["src/web/", "src/cloud/", "src/slicer/", "src/demo.rs"],
        except: &[],
        forbidden: &[
            "crate::jobs::JobStore",
            "crate::jobs::StoreThread",
            "crate::jobs::Db",
            "crate::jobs::Writer",
        ],
    },
    Rule {
        invariant: "only the job store speaks SQL",
        modules: &["src/"],
        except: &["src/jobs/"],
        forbidden: &["rusqlite"],
    },
    Rule {
        invariant: "doors name no printer driver",
        modules: DOORS,
        except: &[],
        forbidden: DRIVERS,
    },
    Rule {
        invariant: "the driver seam names no driver",
        modules: &["src/printer/driver.rs"],
        except: &[],
        forbidden: DRIVERS,
    },
    Rule {
        invariant: "config imports no printer driver",
        modules: &["src/config/"],
        except: &[],
        forbidden: DRIVERS,
    },
    Rule {
        invariant: "the core names no door, and wire types stay at the edges",
        modules: CORE,
        except: &[],
        forbidden: &[
            "crate::web",
            "crate::cloud",
            "crate::slicer",
            "crate::app",
            "crate::demo",
            "crate::wire",
        ],
    },
];

/// Where `.store()` (the raw job store) may be called: the wiring.
const STORE_CALLS_ALLOWED_IN: &[&str] = &["src/app.rs"];
const STORE_CALLS: &str = "the raw job store (`.store()`) is reached by `app` wiring only";

#[test]
fn every_module_names_only_what_the_architecture_lets_it() {
    let root = std::env::var_os("CARGO_MANIFEST_DIR").expect("run through cargo");
    let root = PathBuf::from(root);
    let files = rust_files(&root.join("src"));
    assert!(
        files.len() > 50 && files.iter().any(|f| f.ends_with("src/gateway/mod.rs")),
        "src/ under {} does not look like the gateway's tree",
        root.display()
    );
    let mut violations = Vec::new();
    for file in &files {
        let name = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(file).unwrap();
        violations.extend(check(&name, &text));
    }
    let report: String = violations.iter().map(|v| format!("  {v}\n")).collect();
    assert!(
        report.is_empty(),
        "architecture invariants broken (ARCHITECTURE.md, \"Architecture invariants\"):\n{report}"
    );
}

#[derive(Debug, Clone, PartialEq)]
struct Violation {
    file: String,
    line: usize,
    named: String,
    rule: &'static str,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Violation {
            file,
            line,
            named,
            rule,
        } = self;
        let verb = if named.starts_with('.') {
            "calls"
        } else {
            "names"
        };
        write!(f, "{file}:{line}: {verb} `{named}`, but {rule}")
    }
}

/// Every rule's violations in one file (`name` relative to the crate root, with `/`).
fn check(name: &str, text: &str) -> Vec<Violation> {
    let code = blank_comments_and_strings(text);
    let line_of = |offset: usize| code[..offset].matches('\n').count() + 1;
    let mut found = Vec::new();
    let under = |places: &[&str]| places.iter().any(|p| name.starts_with(p));
    for (offset, path) in named_paths(name, &code) {
        for rule in RULES
            .iter()
            .filter(|r| under(r.modules) && !under(r.except))
        {
            if rule
                .forbidden
                .iter()
                .any(|f| path == *f || path.starts_with(&format!("{f}::")))
            {
                let (line, named, rule) = (line_of(offset), path.clone(), rule.invariant);
                found.push(Violation {
                    file: name.to_owned(),
                    line,
                    named,
                    rule,
                });
            }
        }
    }
    if !under(STORE_CALLS_ALLOWED_IN) {
        for offset in store_calls(&code) {
            let (line, named) = (line_of(offset), ".store()".to_owned());
            found.push(Violation {
                file: name.to_owned(),
                line,
                named,
                rule: STORE_CALLS,
            });
        }
    }
    found
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The checker itself, on small sources: it must see what it is meant to see (so the test
/// above can fail) and nothing in comments or strings.
mod checker {
    use super::check;

    fn named(file: &str, text: &str) -> Vec<(usize, String)> {
        check(file, text)
            .into_iter()
            .map(|v| (v.line, v.named))
            .collect()
    }

    #[test]
    fn a_door_that_imports_the_store_fails_with_file_and_line() {
        let text = "use std::sync::Arc;\nuse crate::jobs::{Job, JobStore};\n";
        let found = check("src/web/api/jobs.rs", text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].line, 2);
        assert_eq!(found[0].named, "crate::jobs::JobStore");
        assert!(found[0].to_string().starts_with("src/web/api/jobs.rs:2: "));
    }

    #[test]
    fn grouped_renamed_and_aliased_paths_are_followed() {
        let text = "use crate::jobs as store;\nfn f(_: store::Db) {}\n\
                    use crate::{jobs::{self, Job}};\nfn g(_: jobs::Writer<'_>, _: Job) {}\n";
        let found = named("src/cloud/commands.rs", text);
        assert!(found.contains(&(2, "crate::jobs::Db".into())), "{found:?}");
        assert!(
            found.contains(&(4, "crate::jobs::Writer".into())),
            "{found:?}"
        );
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn super_paths_resolve_from_the_files_module() {
        let seam = "use super::serial::SerialStats;\nfn f(e: super::octoprint::RestError) {}\n";
        let found = named("src/printer/driver.rs", seam);
        assert_eq!(
            found,
            vec![
                (1, "crate::printer::serial::SerialStats".into()),
                (2, "crate::printer::octoprint::RestError".into())
            ]
        );
        assert!(check("src/printer/actor.rs", seam).is_empty());
        let config = "fn f() -> crate::printer::sim::SimConfig { todo!() }\n";
        assert_eq!(named("src/config/types.rs", config).len(), 1);
    }

    #[test]
    fn comments_and_strings_name_nothing() {
        let text = "// use crate::jobs::JobStore; gateway.store()\n\
                    /* crate::jobs::Db /* nested */ .store() */\n\
                    const A: &str = \"crate::jobs::Db .store() \\\" crate::jobs::Writer\";\n\
                    const B: &str = r#\"x.store() \"crate::jobs::Db\"\"#;\n\
                    const C: char = '\\''; const D: char = '\"'; fn f<'a>(_: &'a str) {}\n";
        assert_eq!(check("src/web/api/jobs.rs", text), vec![]);
    }

    #[test]
    fn a_store_call_outside_the_wiring_fails_and_inside_it_does_not() {
        let text = "async fn f(gateway: &Gateway) {\n    gateway\n        .store()\n        .call(|db| db.queued());\n}\n";
        let found = named("src/web/api/printers.rs", text);
        assert_eq!(found, vec![(3, ".store()".into())]);
        assert!(check("src/app.rs", text).is_empty());
        assert!(
            check(
                "src/web/api/printers.rs",
                "x.restore(); self.store.call(f);"
            )
            .is_empty()
        );
    }
}
