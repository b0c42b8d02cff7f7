// The secrets of a package directory outside the workspace (a path dependency such as the crate a
// `fuzz/` workspace builds, or `../shared`): the front end hides the workspace's own `.env` files
// and serves its git config without credentials (src/config/workspace-secrets.ts), but it does not
// know these directories. Each sandbox that binds one hides, in it and its direct subdirectories,
// every `.env`/`.env.*` file, and shows its repository's config files (`.git/config`,
// `config.worktree`) empty: git still answers `rev-parse`, without the token a CI checkout left.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use crate::jail::push;

fn env_file(name: &[u8]) -> bool {
    name == b".env" || name.starts_with(b".env.")
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
    if let Ok(entries) = fs::read_dir(manifest) {
        for e in entries.flatten() {
            let name = e.file_name();
            let skip = name.as_bytes().starts_with(b".") || [&b"src"[..], b"target", b"tests", b"benches", b"examples"].contains(&name.as_bytes());
            if !skip && e.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(e.path());
            }
        }
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
        for name in ["config", "config.worktree"] {
            if let Some(config) = inside_target(&git.join(name), manifest, &real_dir).filter(|c| c.is_file()) {
                push(args, &["--ro-bind".as_ref(), empty.as_os_str(), config.as_os_str()]);
            }
        }
    }
}
