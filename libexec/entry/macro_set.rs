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

#[derive(Clone)]
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
    // Our macros in the dependency directories, by package; every build of each (features,
    // profiles): rustc picks among them by crate hash, so each one it may load is listed.
    let mut macros: HashMap<(String, String), MacroLibrary> = HashMap::new();
    let mut builds: Vec<MacroLibrary> = vec![];
    for dir in dependency_dirs {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_name().to_str().is_some_and(|n| n.starts_with("lib") && n.ends_with(".so")) {
                if let Some(m) = macro_package(&entry.path()) {
                    builds.push(m.clone());
                    macros.insert((m.name.clone(), m.version.clone()), m);
                }
            }
        }
    }
    let packages = lock_packages(&graph);
    let (name, version) = (std::env::var("CARGO_PKG_NAME").unwrap_or_default(), std::env::var("CARGO_PKG_VERSION").unwrap_or_default());
    let reached = macros_of(&packages, &name, &version, &macros);
    for m in builds {
        if reached.contains(&(m.name.clone(), m.version.clone())) && !found.iter().any(|f| f.library == m.library) {
            found.push(m);
        }
    }
    found
}

/// The macros of ours the package `name` `version` may load. Several packages of that name and
/// version (from other sources: a git copy beside the registry's) cannot be told apart here: then
/// only the macros each of them may load count, never those of one lent to another.
fn macros_of(packages: &[Locked], name: &str, version: &str, macros: &HashMap<(String, String), MacroLibrary>) -> HashSet<(String, String)> {
    let mut reached: Option<HashSet<(String, String)>> = None;
    for start in (0..packages.len()).filter(|&i| packages[i].name == name && packages[i].version == version) {
        let these = macros_reached(packages, start, macros);
        reached = Some(match reached {
            None => these,
            Some(before) => before.intersection(&these).cloned().collect(),
        });
    }
    reached.unwrap_or_default()
}

/// The macros of ours among the dependencies of package `start`, not looking inside a macro (its
/// own dependencies are compiled into it).
fn macros_reached(packages: &[Locked], start: usize, macros: &HashMap<(String, String), MacroLibrary>) -> HashSet<(String, String)> {
    let by_name = by_name(packages);
    let resolve = |d: &&str| resolve(packages, &by_name, d);
    let mut seen = HashSet::new();
    let mut reached = HashSet::new();
    let mut queue: Vec<usize> = packages[start].deps.iter().filter_map(resolve).collect();
    while let Some(i) = queue.pop() {
        if !seen.insert(i) {
            continue;
        }
        let key = (packages[i].name.to_string(), packages[i].version.to_string());
        if macros.contains_key(&key) {
            reached.insert(key);
        } else {
            queue.extend(packages[i].deps.iter().filter_map(resolve));
        }
    }
    reached
}

/// One `[[package]]` of Cargo.lock (or the oldest format's `[root]`, the workspace's package).
#[derive(Debug, Default)]
pub(crate) struct Locked<'a> {
    pub name: &'a str,
    pub version: &'a str,
    /// Empty for a path package.
    pub source: &'a str,
    /// As written: `name`, `name version` or `name version (source)`.
    pub deps: Vec<&'a str>,
}

/// The strings in quotes on one line of Cargo.lock (its names and versions hold no quote); none
/// when a quote is left open (a file cargo would refuse: nothing is read from the line).
fn quoted(line: &str) -> Vec<&str> {
    if line.matches('"').count() % 2 == 1 {
        return vec![];
    }
    line.split('"').skip(1).step_by(2).collect()
}

/// Cargo.lock's packages, of every format cargo reads (v1's `[root]` and `[metadata]` checksums,
/// v2's short dependencies, v3 and v4's `version = N`). A line this reader does not understand
/// adds nothing: a package without its name or dependencies grants fewer macros, never more.
pub(crate) fn lock_packages(text: &str) -> Vec<Locked<'_>> {
    let mut packages: Vec<Locked> = vec![];
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
            in_package = line == "[[package]]" || line == "[root]";
            if in_package {
                packages.push(Locked::default());
            }
            continue;
        }
        let p = match packages.last_mut() {
            Some(p) if in_package => p,
            _ => continue,
        };
        if in_deps || line.starts_with("dependencies = [") {
            p.deps.extend(quoted(line.trim_start_matches("dependencies = ")));
            in_deps = !line.ends_with(']');
        } else if let Some(v) = line.strip_prefix("name = ") {
            p.name = quoted(v).first().copied().unwrap_or("");
        } else if let Some(v) = line.strip_prefix("version = ") {
            p.version = quoted(v).first().copied().unwrap_or("");
        } else if let Some(v) = line.strip_prefix("source = ") {
            p.source = quoted(v).first().copied().unwrap_or("");
        }
    }
    packages
}

/// The packages of each name, for `resolve`.
pub(crate) fn by_name<'a>(packages: &[Locked<'a>]) -> HashMap<&'a str, Vec<usize>> {
    let mut index: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in packages.iter().enumerate() {
        index.entry(p.name).or_default().push(i);
    }
    index
}

/// The package a dependency names: `name` (the only package of that name), `name version` (the
/// only one of that name and version) or `name version (source)` (a git source without its
/// `#commit`). None when it names none or several: cargo writes enough to tell them apart, and an
/// edge this reader cannot place is left out.
pub(crate) fn resolve(packages: &[Locked], by_name: &HashMap<&str, Vec<usize>>, dep: &str) -> Option<usize> {
    let mut words = dep.splitn(3, ' ');
    let name = words.next()?;
    let version = words.next();
    let source = match words.next() {
        Some(s) => Some(s.strip_prefix('(')?.strip_suffix(')')?),
        None => None,
    };
    let unpinned = |s: &str| s.split('#').next().unwrap_or("").to_string();
    let mut matching = by_name.get(name)?.iter().copied().filter(|&i| {
        let p = &packages[i];
        version.map_or(true, |v| p.version == v) && source.map_or(true, |s| unpinned(p.source) == unpinned(s))
    });
    let first = matching.next()?;
    matching.next().is_none().then_some(first)
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

#[cfg(test)]
#[path = "macro_set_tests.rs"]
mod tests;
