//! Tidiness rules of the code base: every source file says what it owns, and no debugging or
//! unfinished markers are left behind.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn sources_have_module_docs_and_no_leftovers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "scripts"] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut problems = Vec::new();
    // Built by concatenation so that this file does not trip its own check.
    let banned = [
        concat!("db", "g!("),
        concat!("to", "do!("),
        concat!("unimpl", "emented!("),
        concat!("#[", "ignore"),
    ];
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if !first.starts_with("//!") {
            problems.push(format!("{}: first line is not a //! module doc", file.display()));
        }
        for (n, line) in text.lines().enumerate() {
            for b in banned {
                if line.contains(b) {
                    problems.push(format!("{}:{}: {b}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(files.len() > 10, "found only {} files", files.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn cargo_tree_has_no_async_runtime() {
    // Cargo.lock is not enough: it also lists optional dependencies that a crate names only in a
    // weak feature (lettre's `smtp-transport` has `tokio1_crate?/rt`), which are never built.
    // So the graph is cargo's, every target and dependency kind: what can actually be compiled.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["tree", "--locked", "--target", "all", "--edges", "normal,build,dev"])
        .args(["--prefix", "none", "--format", "{p}"])
        .current_dir(root)
        .output()
        .expect("run cargo tree");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo tree failed: {stderr}");
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.lines().any(|l| l.starts_with("husky ")), "unexpected cargo tree output: {tree}");
    for banned in ["tokio", "async-std", "smol", "futures-executor", "async-io", "mio"] {
        let found = tree.lines().find(|l| l.split_whitespace().next() == Some(banned));
        assert!(found.is_none(), "the dependency graph contains {banned}");
    }
}
