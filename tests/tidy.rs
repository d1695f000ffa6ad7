//! ARCHITECTURE.md's invariants that the crate boundaries cannot say, checked on the source
//! tree: a change that breaks one fails here, naming the file, the line and the rule, instead of
//! waiting for a reviewer.
//!
//! The crates say the rest (a dependency that is not in a crate's manifest does not compile):
//! `threerc-core` depends on serde only, `threerc-hv` on the core, and `threerc-libvirt` is the
//! only crate with `virt`. This test checks that the manifests still say so, and then:
//!
//! - `crates/core` is pure beyond its dependencies: no I/O, no threads, no clock reads, no
//!   printing, no async (std has all of these, so the manifest cannot forbid them).
//! - `src/ui` names neither a backend, nor the engine, nor the supervisor, ops, store, fence
//!   or app layers: it renders snapshots and sends requests.
//! - The layers (ARCHITECTURE.md): each top-level module of the application crate names only
//!   the modules below it (`LAYERS`), so the dependency order is a line: no cycle, nothing
//!   reaching up.
//!
//! The code is read with comments and the contents of string and character literals blanked,
//! so prose that mentions a forbidden name is not a finding.

use std::path::{Path, PathBuf};

/// A rule: in the files under `dir` (minus `except`), none of `forbidden` may appear as code.
struct Rule {
    name: &'static str,
    dir: &'static str,
    except: &'static [&'static str],
    forbidden: &'static [&'static str],
}

const RULES: &[Rule] = &[
    Rule {
        name: "core is pure (ARCHITECTURE.md: no I/O, no async, no threads, no clock reads, no printing)",
        dir: "crates/core/src",
        except: &[],
        forbidden: &[
            "std::fs",
            "std::io",
            "std::net",
            "std::process",
            "std::thread",
            "std::env",
            "std::sync::Mutex",
            "std::sync::RwLock",
            "std::sync::mpsc",
            "std::time::Instant",
            "std::time::SystemTime",
            "Instant::now",
            "SystemTime",
            "File::",
            "async",
            ".await",
            "thread::spawn",
            "println!",
            "eprintln!",
            "print!",
            "eprint!",
        ],
    },
    Rule {
        name: "the UI never calls the backend or the engine (it renders snapshots and sends requests)",
        dir: "src/ui",
        except: &[],
        forbidden: &[
            "crate::backend",
            "threerc::backend",
            "crate::supervisor",
            "threerc::supervisor",
            "crate::ops",
            "crate::store",
            "crate::fence",
            "crate::app",
            "Engine",
            "core::engine",
            "rusqlite",
        ],
    },
];

/// Each top-level module of `src/` and the modules it may name (`crate::X`): ARCHITECTURE.md's
/// layer order, the front ends at the top. `core` and `hv` are the crates below (re-exported as
/// `crate::core` and `crate::hv`); Cargo keeps them from naming anything above.
const LAYERS: &[(&str, &[&str])] = &[
    ("config", &["core", "hv"]),
    ("store", &["core", "hv"]),
    ("fence", &["core", "hv", "config"]),
    ("backend", &["core", "hv"]),
    ("ha", &["core", "hv", "config"]),
    ("ops", &["core", "hv", "config", "store"]),
    ("supervisor", &["core", "hv", "config", "store", "ops"]),
    ("sim", &["core", "hv", "config", "store", "backend", "ha", "ops", "supervisor"]),
    ("p2v", &["core", "hv", "config"]),
    ("ui", &["core", "p2v"]),
    ("app", &["core", "hv", "config", "store", "fence", "ha", "backend", "ops", "supervisor", "sim", "p2v", "ui"]),
];

/// `crate::X` for every top-level module `X` that `module` may not name.
fn forbidden_layers(module: &str) -> Vec<&'static str> {
    let allowed = LAYERS.iter().find(|(m, _)| *m == module).map(|(_, a)| *a).unwrap_or(&[]);
    let names: &[(&str, &'static str)] = &[
        ("core", "crate::core"),
        ("hv", "crate::hv"),
        ("config", "crate::config"),
        ("store", "crate::store"),
        ("fence", "crate::fence"),
        ("ha", "crate::ha"),
        ("backend", "crate::backend"),
        ("ops", "crate::ops"),
        ("supervisor", "crate::supervisor"),
        ("sim", "crate::sim"),
        ("p2v", "crate::p2v"),
        ("ui", "crate::ui"),
        ("app", "crate::app"),
    ];
    names.iter().filter(|(m, _)| *m != module && !allowed.contains(m)).map(|(_, p)| *p).collect()
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The source with comments and the contents of string and char literals replaced by spaces
/// (newlines kept, so line numbers stay right).
fn code_only(src: &str) -> String {
    let s: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let next = s.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < s.len() && s[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && s.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(s[i]));
                    i += 1;
                }
            }
        } else if (c == 'r' || c == 'b') && (i == 0 || !is_ident(s[i - 1])) && raw_string_hashes(&s[i..]).is_some() {
            // r"..", r#".."#, br".."
            let (prefix, hashes) = raw_string_hashes(&s[i..]).unwrap_or((0, 0));
            for _ in 0..prefix {
                out.push(s[i]);
                i += 1;
            }
            while i < s.len() {
                if s[i] == '"' && (1..=hashes).all(|k| s.get(i + k) == Some(&'#')) {
                    out.push('"');
                    i += 1;
                    for _ in 0..hashes {
                        out.push('#');
                        i += 1;
                    }
                    break;
                }
                out.push(blank(s[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < s.len() && s[i] != '"' {
                if s[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < s.len() {
                    out.push(blank(s[i]));
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c == '\'' && (next == Some('\\') || s.get(i + 2) == Some(&'\'')) {
            // A char literal ('x', '\n', '\u{..}'), not a lifetime.
            out.push('\'');
            i += 1;
            if s.get(i) == Some(&'\\') {
                out.push_str("  "); // the backslash and the escaped character, maybe a quote
                i += 2;
            }
            while i < s.len() && s[i] != '\'' {
                out.push(' ');
                i += 1;
            }
            out.push('\'');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// For text starting a raw string literal (`r"`, `r#"`, `br##"`...): the length of its opening
/// up to and including the quote, and its number of hashes.
fn raw_string_hashes(s: &[char]) -> Option<(usize, usize)> {
    let mut i = 0;
    if s.first() == Some(&'b') {
        i += 1;
    }
    if s.get(i) != Some(&'r') {
        return None;
    }
    i += 1;
    let mut hashes = 0;
    while s.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    (s.get(i) == Some(&'"')).then_some((i + 1, hashes))
}

/// (line, pattern) of every occurrence of a forbidden pattern in code. A pattern that starts
/// or ends with an identifier character must stand alone there (`virt` is not `libvirt`).
fn findings(code: &str, forbidden: &[&'static str]) -> Vec<(usize, &'static str)> {
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        for pat in forbidden {
            let mut from = 0;
            while let Some(at) = line[from..].find(pat) {
                let start = from + at;
                let end = start + pat.len();
                let before_ok = !pat.starts_with(is_ident) || !line[..start].ends_with(is_ident);
                let after_ok = !pat.ends_with(is_ident) || !line[end..].starts_with(is_ident);
                if before_ok && after_ok {
                    found.push((n + 1, *pat));
                    break;
                }
                from = end;
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { panic!("cannot read {}", dir.display()) };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn the_architecture_invariants_hold_in_the_source_tree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut broken = Vec::new();
    let mut checked = 0;
    for rule in RULES {
        let mut files = Vec::new();
        rust_files(&root.join(rule.dir), &mut files);
        files.sort();
        for f in files {
            let rel = f.strip_prefix(root).unwrap_or(&f).display().to_string();
            if rule.except.iter().any(|e| rel.starts_with(e)) {
                continue;
            }
            checked += 1;
            let src = std::fs::read_to_string(&f).unwrap();
            let code = code_only(&src);
            for (line, pat) in findings(&code, rule.forbidden) {
                let text = src.lines().nth(line - 1).unwrap_or("").trim();
                broken.push(format!("{rel}:{line}: `{pat}` breaks \"{}\"\n    {text}", rule.name));
            }
        }
    }
    assert!(checked > 50, "only {checked} files checked: is the tree where this test thinks?");
    assert!(broken.is_empty(), "{} finding(s):\n{}", broken.len(), broken.join("\n"));
}

#[test]
fn each_layer_names_only_the_layers_below_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut modules: Vec<String> = std::fs::read_dir(root.join("src"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    modules.sort();
    let listed: Vec<&str> = LAYERS.iter().map(|(m, _)| *m).collect();
    for m in &modules {
        assert!(listed.contains(&m.as_str()), "src/{m} is not in LAYERS: give it its place in the order");
    }
    let mut broken = Vec::new();
    for (module, _) in LAYERS {
        let forbidden = forbidden_layers(module);
        let mut files = Vec::new();
        rust_files(&root.join("src").join(module), &mut files);
        files.sort();
        for f in files {
            let rel = f.strip_prefix(root).unwrap_or(&f).display().to_string();
            let src = std::fs::read_to_string(&f).unwrap();
            for (line, pat) in findings(&code_only(&src), &forbidden) {
                let text = src.lines().nth(line - 1).unwrap_or("").trim();
                broken.push(format!("{rel}:{line}: `{pat}`: {module} may not name that layer\n    {text}"));
            }
        }
    }
    assert!(broken.is_empty(), "{} finding(s):\n{}", broken.len(), broken.join("\n"));
    // The check can fail: ops naming the supervisor is a finding.
    assert_eq!(findings("use crate::supervisor::Settings;", &forbidden_layers("ops")), [(1, "crate::supervisor")]);
}

/// The checker itself finds what it must and ignores prose: a tidy test that cannot fail
/// would be worse than none.
#[test]
fn the_checker_sees_code_and_not_comments_or_strings() {
    let src = r####"
// std::fs in a comment, and tokio
/* block with virt::connect
   /* nested std::thread */ still a comment: async */
fn f<'a>(x: &'a str) -> char {
    let s = "std::fs::read and .await in a string";
    let r = r#"tokio "quoted" virt::x"#;
    let c = '"'; let d = '\''; let e = '\u{41}';
    let t = std::time::Instant::now();
    let libvirt_name = "hv1"; let v = crate::backend::libvirt::init();
    virt::connect::Connect::open(None);
    x.len().await;
    'x'
}
"####;
    let code = code_only(src);
    assert_eq!(code.lines().count(), src.lines().count(), "line numbers are kept");
    let core = &RULES[0];
    let got = findings(&code, core.forbidden);
    let lines: Vec<(usize, &str)> = got.iter().map(|(l, p)| (*l, *p)).collect();
    assert!(lines.contains(&(9, "std::time::Instant")) && lines.contains(&(9, "Instant::now")), "{lines:?}");
    assert!(lines.contains(&(12, ".await")), "{lines:?}");
    assert!(lines.iter().all(|(l, _)| [9, 12].contains(l)), "only code lines 9 and 12: {lines:?}");
    // A name must stand alone: `libvirt_name` is not `libvirt`, and the string is not code.
    assert_eq!(findings(&code, RULES[1].forbidden), [(10, "crate::backend")]);
}

/// The `[dependencies]` of the crate at `dir` (relative to the workspace root), by name.
fn dependencies(dir: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let manifest: toml::Table = text.parse().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut deps: Vec<String> = manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    deps.sort();
    deps
}

/// The crate boundaries hold the invariants only while the manifests keep them: the core's
/// only dependency is serde, the world interface names no hypervisor library and nothing of
/// 3RC above the core, and `virt` is a dependency of the libvirt adapter and of no other crate.
#[test]
fn the_manifests_keep_the_invariants_the_crates_enforce() {
    assert_eq!(dependencies("crates/core"), ["serde"], "crates/core: the core depends on serde only");
    let hv = dependencies("crates/hv");
    assert!(
        hv.iter().all(|d| !d.starts_with("threerc") || d == "threerc-core"),
        "crates/hv names only the core: {hv:?}"
    );
    let with_virt: Vec<&str> = [".", "crates/core", "crates/hv", "crates/libvirt"]
        .into_iter()
        .filter(|c| dependencies(c).iter().any(|d| d == "virt"))
        .collect();
    assert_eq!(with_virt, ["crates/libvirt"], "only the libvirt adapter links libvirt");
    let members = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("crates")).unwrap().count();
    assert_eq!(members, 3, "a new crate under crates/ needs its line in this test and in ARCHITECTURE.md");
}
