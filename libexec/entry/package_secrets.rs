// The secrets of a package directory outside the workspace (a path dependency such as the crate a
// `fuzz/` workspace builds, or `../shared`): the front end hides the workspace's own `.env` files
// and serves its git config without credentials (src/config/workspace-secrets.ts), but it does not
// know these directories. Each sandbox that binds one hides, in it and its subdirectories as deep as
// the front end looks, every `.env`/`.env.*` file, and shows its repository's config files
// (`.git/config`, `config.worktree`) empty: git still answers `rev-parse`, without the token a CI
// checkout left. Which files and directories: libexec/schema/secrets.json, the front end's rule too.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::jail::push;
use crate::json;

/// libexec/schema/secrets.json, as this side uses it.
struct Rule {
    env_names: Vec<String>,
    env_prefixes: Vec<String>,
    depth: u64,
    max_dirs: usize,
    skipped_dirs: Vec<String>,
    git_configs: Vec<String>,
}

fn rule() -> &'static Rule {
    static RULE: OnceLock<Rule> = OnceLock::new();
    RULE.get_or_init(|| read_rule(include_str!("../schema/secrets.json")).unwrap_or_else(|| panic!("libexec/schema/secrets.json does not read")))
}

fn read_rule(text: &str) -> Option<Rule> {
    let root = json::parse(text.as_bytes())?;
    let strings = |section: &str, key: &str| root.get(section)?.get(key)?.strings();
    Some(Rule {
        env_names: strings("env-files", "names")?,
        env_prefixes: strings("env-files", "prefixes")?,
        depth: root.get("scan")?.get("depth")?.integer()?,
        max_dirs: usize::try_from(root.get("scan")?.get("max-dirs")?.integer()?).ok()?,
        skipped_dirs: strings("scan", "skipped-dirs")?,
        git_configs: strings("git-configs", "names")?,
    })
}

fn env_file(name: &[u8]) -> bool {
    let r = rule();
    r.env_names.iter().any(|n| n.as_bytes() == name) || r.env_prefixes.iter().any(|p| name.starts_with(p.as_bytes()))
}

/// A directory the scan for `.env` files goes into (hidden ones and the rule's skipped ones are not).
fn scanned_dir(name: &[u8]) -> bool {
    !name.starts_with(b".") && !rule().skipped_dirs.iter().any(|d| d.as_bytes() == name)
}

/// Where a link inside `dir` (whose real path is `real_dir`) ends, if it ends inside `dir`
/// (elsewhere the sandbox does not show it).
fn inside_target(path: &Path, dir: &Path, real_dir: &Path) -> Option<PathBuf> {
    let real = fs::canonicalize(path).ok()?;
    real.strip_prefix(real_dir).ok().map(|rel| dir.join(rel))
}

/// bwrap arguments that hide `manifest`'s secrets; none when it is inside the workspace, whose
/// secrets the session's own arguments handle. `empty`: an empty file of the session.
pub(crate) fn hide(args: &mut Vec<OsString>, manifest: &Path, workspace: Option<&Path>, empty: &Path) {
    if manifest.as_os_str().is_empty() || workspace.is_some_and(|w| manifest.starts_with(w)) {
        return;
    }
    use std::os::unix::ffi::OsStrExt;
    let real_dir = match fs::canonicalize(manifest) {
        Ok(d) => d,
        Err(_) => return,
    };
    let mut dirs = vec![manifest.to_path_buf()];
    let mut level = dirs.clone();
    for _ in 0..rule().depth {
        let mut next = Vec::new();
        for dir in &level {
            for e in fs::read_dir(dir).into_iter().flatten().flatten() {
                if dirs.len() + next.len() < rule().max_dirs && scanned_dir(e.file_name().as_bytes()) && e.file_type().is_ok_and(|t| t.is_dir()) {
                    next.push(e.path());
                }
            }
        }
        dirs.extend_from_slice(&next);
        level = next;
    }
    for dir in &dirs {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            if !env_file(e.file_name().as_bytes()) {
                continue;
            }
            match inside_target(&e.path(), manifest, &real_dir) {
                Some(t) if t.is_dir() => push(args, &["--tmpfs".as_ref(), t.as_os_str(), "--remount-ro".as_ref(), t.as_os_str()]),
                Some(t) => push(args, &["--ro-bind".as_ref(), "/dev/null".as_ref(), t.as_os_str()]),
                None => {}
            }
        }
    }
    if let Some(git) = inside_target(&manifest.join(".git"), manifest, &real_dir).filter(|g| g.is_dir()) {
        for name in &rule().git_configs {
            if let Some(config) = inside_target(&git.join(name), manifest, &real_dir).filter(|c| c.is_file()) {
                push(args, &["--ro-bind".as_ref(), empty.as_os_str(), config.as_os_str()]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_rule_reads_and_names_dotenv_files() {
        for (name, secret) in [(".env", true), (".env.local", true), (".env.production", true), (".envrc", false), ("env", false), ("x.env", false)] {
            assert_eq!(env_file(name.as_bytes()), secret, "{name}");
        }
        assert!(!scanned_dir(b"src") && !scanned_dir(b".git") && scanned_dir(b"crates"));
        assert_eq!(rule().git_configs, ["config", "config.worktree"]);
    }

    #[test]
    fn dotenv_files_are_hidden_as_deep_as_the_front_end_looks() {
        let root = std::env::temp_dir().join(format!("package-secrets-{}", std::process::id()));
        let pkg = root.join("pkg");
        for dir in ["crates/foo", "src", "a/b/c", ".git"] {
            fs::create_dir_all(pkg.join(dir)).unwrap();
        }
        for file in [".env.local", "crates/foo/.env", "src/.env", "a/b/c/.env", ".git/config"] {
            fs::write(pkg.join(file), "TOKEN=x").unwrap();
        }
        let mut args = Vec::new();
        hide(&mut args, &pkg, Some(Path::new("/elsewhere")), Path::new("/session/empty"));
        let hidden: Vec<String> = args.windows(3).filter(|w| w[0] == "--ro-bind").map(|w| w[2].to_string_lossy().into_owned()).collect();
        fs::remove_dir_all(&root).unwrap();
        let at = |rel: &str| pkg.join(rel).to_string_lossy().into_owned();
        assert!(hidden.contains(&at(".env.local")) && hidden.contains(&at("crates/foo/.env")) && hidden.contains(&at(".git/config")), "{hidden:?}");
        // Skipped as the front end skips them: sources, and deeper than the scan goes.
        assert!(!hidden.contains(&at("src/.env")) && !hidden.contains(&at("a/b/c/.env")), "{hidden:?}");
    }
}
