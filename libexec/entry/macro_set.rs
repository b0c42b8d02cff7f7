// Which of our proc macros one rustc or rustdoc call may load, so that their packages'
// allow-network lists apply to it (network.rs) and the audit knows whose macros ran.
//
// rustc loads the macros named by `--extern`, and, when a library re-exports them (sqlx's `query!`
// is sqlx-macros'; serde's derives are serde_derive's), those of its dependencies, found in the
// `-L dependency=` directories. Only when that matters (a network grant exists, or under audit)
// does the session name the workspace's Cargo.lock (`lockfile.path`), which cargo has written by
// the time anything compiles. The macros among the compiled crate's dependencies in its graph (not looking
// inside a macro: its own dependencies are compiled into it) are the ones it may load. The lockfile
// is the workspace's, so an attacker's: a lie in it can only add to what a compilation may load,
// as a dependency in Cargo.toml could.
//
// A macro counts only when our record of its library (macro_records.rs) names its package and its
// bytes are still the ones we compiled: a library that is not ours never carries any grants.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::macro_records::macro_package;

/// Only its start is read: no real Cargo.lock is this large.
const MAX_LOCKFILE: u64 = 16 << 20;

pub(crate) struct MacroLibrary {
    pub name: String,
    pub version: String,
    /// The file rustc loads.
    pub library: PathBuf,
    /// The SHA-256 of the bytes we compiled (macro_records.rs).
    pub digest: String,
}

pub(crate) fn loaded_macros(externs: &[PathBuf], dependency_dirs: &[PathBuf], session: &Path) -> Vec<MacroLibrary> {
    // Written only when a network grant exists or under audit: otherwise no macro's network
    // matters, and nothing is looked up (every compilation passes here).
    let lockfile = read_small(&session.join("lockfile.path"), 4096);
    if lockfile.is_empty() {
        return vec![];
    }
    let mut found: Vec<MacroLibrary> = externs.iter().filter(|p| p.extension().is_some_and(|e| e == "so")).filter_map(|p| macro_package(p)).collect();
    let graph = read_small(Path::new(&lockfile), MAX_LOCKFILE);
    if graph.is_empty() {
        return found;
    }
    // Our macros in the dependency directories, by package.
    let mut macros: HashMap<(String, String), MacroLibrary> = HashMap::new();
    for dir in dependency_dirs {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_name().to_str().is_some_and(|n| n.starts_with("lib") && n.ends_with(".so")) {
                if let Some(m) = macro_package(&entry.path()) {
                    macros.insert((m.name.clone(), m.version.clone()), m);
                }
            }
        }
    }
    let deps = lock_graph(&graph);
    let (name, version) = (std::env::var("CARGO_PKG_NAME").unwrap_or_default(), std::env::var("CARGO_PKG_VERSION").unwrap_or_default());
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    let mut queue: Vec<(&str, &str)> = deps.get(&(name.as_str(), version.as_str())).cloned().unwrap_or_default();
    while let Some(pkg) = queue.pop() {
        if !seen.insert(pkg) {
            continue;
        }
        match macros.remove(&(pkg.0.to_string(), pkg.1.to_string())) {
            Some(m) => {
                if !found.iter().any(|f| f.name == m.name && f.version == m.version) {
                    found.push(m);
                }
            }
            None => queue.extend(deps.get(&pkg).cloned().unwrap_or_default()),
        }
    }
    found
}

/// The strings in quotes on one line of Cargo.lock (its names and versions hold no quote).
fn quoted(line: &str) -> Vec<&str> {
    line.split('"').skip(1).step_by(2).collect()
}

/// Cargo.lock's `[[package]]` tables as package → dependencies (`name`, `name version` or
/// `name version (source)` in the file; a name alone is the one package of that name).
fn lock_graph(text: &str) -> HashMap<(&str, &str), Vec<(&str, &str)>> {
    let mut packages: Vec<(&str, &str, Vec<&str>)> = vec![];
    // Lines belong to a package only between its `[[package]]` and the next table header, and
    // never inside a multi-line string (cargo keeps a `[metadata]` table's as written).
    let (mut in_package, mut in_deps, mut in_string) = (false, false, false);
    for line in text.lines().map(str::trim) {
        if line.matches("\"\"\"").count() % 2 == 1 {
            in_string = !in_string;
            continue;
        }
        if in_string {
            continue;
        }
        if line.starts_with('[') && !in_deps {
            in_package = line == "[[package]]";
            if in_package {
                packages.push(("", "", vec![]));
            }
            continue;
        }
        let p = match packages.last_mut() {
            Some(p) if in_package => p,
            _ => continue,
        };
        if in_deps || line.starts_with("dependencies = [") {
            p.2.extend(quoted(line.trim_start_matches("dependencies = ")));
            in_deps = !line.ends_with(']');
        } else if let Some(v) = line.strip_prefix("name = ") {
            p.0 = quoted(v).first().copied().unwrap_or("");
        } else if let Some(v) = line.strip_prefix("version = ") {
            p.1 = quoted(v).first().copied().unwrap_or("");
        }
    }
    let mut versions: HashMap<&str, Vec<&str>> = HashMap::new();
    for (name, version, _) in &packages {
        versions.entry(name).or_default().push(version);
    }
    packages
        .iter()
        .map(|(name, version, deps)| {
            let resolved = deps.iter().filter_map(|d| {
                let mut words = d.split(' ');
                let dep = words.next()?;
                let v = words.next().or_else(|| versions.get(dep).filter(|v| v.len() == 1).map(|v| v[0]))?;
                Some((dep, v))
            });
            ((*name, *version), resolved.collect())
        })
        .collect()
}

/// A record of ours: a regular file, never through a link, at most `limit` bytes (a `target/`
/// that came with a repository may hold a link to /dev/zero or a FIFO under that name).
pub(crate) fn read_small(path: &Path, limit: u64) -> String {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    const O_NOFOLLOW: i32 = 0o400000;
    const O_NONBLOCK: i32 = 0o4000;
    let file = fs::OpenOptions::new().read(true).custom_flags(O_NOFOLLOW | O_NONBLOCK).open(path);
    let mut text = String::new();
    if let Ok(f) = file {
        if f.metadata().is_ok_and(|m| m.is_file()) {
            let _ = f.take(limit).read_to_string(&mut text);
        }
    }
    text
}
