//! The module map in `src/lib.rs` tells the truth: it lists every top-level module once, and each
//! module's files name (as `crate::<module>`) only modules listed below it — so no two modules
//! import each other, directly or round a circle. Comment lines are not imports and are skipped.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The modules of the `# Layout` list, top to bottom: the first link of each `//! - ` bullet.
fn map_order(lib: &str) -> Vec<String> {
    lib.lines()
        .skip_while(|l| l.trim() != "//! # Layout")
        .take_while(|l| l.starts_with("//!"))
        .filter_map(|l| l.strip_prefix("//! - [`"))
        .filter_map(|rest| rest.split_once("`]").map(|(name, _)| name.to_string()))
        .collect()
}

/// The `pub mod` declarations of `lib.rs`.
fn declared(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';').to_string())
        .collect()
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(path)
            .expect("src/ is readable")
            .map(|e| e.expect("src/ is readable").path())
            .collect();
        entries.sort();
        for entry in entries {
            rust_files(&entry, out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// Every top-level module named as `crate::<name>` in `text`, outside comment lines.
fn named(text: &str, modules: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("crate::") {
            let preceded = line[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
            let rest = &line[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !preceded && modules.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

#[test]
fn every_module_imports_only_modules_listed_below_it() {
    let lib = fs::read_to_string(src().join("lib.rs")).unwrap();
    let order = map_order(&lib);
    let mut listed = order.clone();
    listed.sort();
    let mut modules = declared(&lib);
    modules.sort();
    assert_eq!(listed, modules, "the map lists each `pub mod` exactly once");

    let rank: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let mut upward = Vec::new();
    for module in &order {
        let mut files = Vec::new();
        let dir = src().join(module);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        } else {
            files.push(src().join(format!("{module}.rs")));
        }
        for file in files {
            let text = fs::read_to_string(&file).unwrap();
            for target in named(&text, &order) {
                if target != *module && rank[target.as_str()] < rank[module.as_str()] {
                    let file = file.strip_prefix(src()).unwrap().display().to_string();
                    upward.push(format!(
                        "{file} names crate::{target}, listed above {module}"
                    ));
                }
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(upward.is_empty(), "upward edges:\n{}", upward.join("\n"));
}

#[test]
fn the_scan_sees_paths_and_skips_comments() {
    let modules = vec!["run".to_string(), "report".to_string()];
    let text = "use crate::run::Interrupted;\n// crate::report is only mentioned\nlet x = crate::report::table::render(&rows);\nnot_crate::run";
    assert_eq!(named(text, &modules), ["run", "report"]);
}
