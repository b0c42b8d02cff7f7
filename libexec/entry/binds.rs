// Read-only binds that would show nothing new: a directory or file the view already shows, as it is
// on the host, through a read-only bind of a tree that holds it (the workspace, bound by the
// session's setup.args, holds the package's directory and often the target dir; ~/.rustup holds
// rustc). Each bind costs bubblewrap two mount calls (the bind, then its read-only remount), and a
// compilation asked for four to six such. Skipping one is safe only when the view at that path is
// the host's, read-only, either way; `Shown::covers` says when (see there).
//
// Masks are never left out, even where no mount of a call seems to reach them: a destination
// that bubblewrap resolves elsewhere than it reads (`/usr/../home`, a link a repository ships in a
// granted directory) showed the host's home with its masks dropped (review of issue 29's first
// try). What is masked is the session's list, whole.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The mounts so far, in bubblewrap's order: (destination, whether it is a read-only bind of the
/// host's own path at that same path, with no link on the way). `None`: an argument we do not
/// know, and then nothing is skipped.
#[derive(Clone)]
pub(crate) struct Shown(Option<Vec<(PathBuf, bool)>>);

impl Shown {
    /// The mounts of the session's setup.args (bwrap's `--args 3`).
    pub(crate) fn of_setup(session: &Path) -> Shown {
        match std::fs::read(session.join("setup.args")) {
            Ok(data) => Shown(parse(&data)),
            Err(_) => Shown(None),
        }
    }

    /// Whether a read-only bind of `path` over itself would change nothing: the last mount that
    /// touches `path` (at it, above it, or inside it) is a read-only bind of a tree above or at
    /// `path`, taken from the same host path, and neither has a link among its components (so the
    /// sandbox's `path` is the host's `path`, submounts included: bubblewrap binds recursively and
    /// remounts every submount read-only). A later mount inside `path` (a writable directory) or
    /// above it (a mask, a tmpfs) rules it out: the new bind would have covered it.
    pub(crate) fn covers(&self, path: &Path) -> bool {
        let Some(mounts) = &self.0 else { return false };
        if !is_real(path) {
            return false;
        }
        let last = mounts.iter().rev().find(|(dest, _)| dest.starts_with(path) || path.starts_with(dest));
        matches!(last, Some((dest, true)) if path.starts_with(dest) && is_real(dest))
    }

    /// Records a bind this call adds (read-only over itself, or anything else).
    pub(crate) fn add(&mut self, dest: &Path, read_only_self: bool) {
        if let Some(m) = self.0.as_mut() {
            m.push((dest.to_path_buf(), read_only_self && is_real(dest)));
        }
    }
}

/// An absolute path with no link among its components, that exists.
fn is_real(path: &Path) -> bool {
    path.is_absolute() && std::fs::canonicalize(path).is_ok_and(|c| c == path)
}

/// bwrap arguments (NUL-terminated, as `--args` reads them) as mounts; `None` for an option this
/// parser does not know.
fn parse(data: &[u8]) -> Option<Vec<(PathBuf, bool)>> {
    let words: Vec<OsString> = data.split(|&c| c == 0).map(|w| OsString::from(std::ffi::OsStr::from_bytes(w))).collect();
    // The last element is what follows the final NUL: empty.
    let mut words = words[..words.len().saturating_sub(1)].iter();
    let mut mounts = vec![];
    while let Some(w) = words.next() {
        let mut next = || words.next().map(PathBuf::from);
        match w.as_bytes() {
            b"--unshare-user"
            | b"--unshare-ipc"
            | b"--unshare-pid"
            | b"--unshare-uts"
            | b"--unshare-cgroup-try"
            | b"--unshare-net"
            | b"--disable-userns"
            | b"--die-with-parent"
            | b"--new-session" => {}
            b"--cap-drop" | b"--hostname" | b"--chdir" | b"--unsetenv" => {
                next()?;
            }
            b"--setenv" => {
                next()?;
                next()?;
            }
            b"--ro-bind" => {
                let (src, dest) = (next()?, next()?);
                let same = src == dest;
                mounts.push((dest, same));
            }
            b"--bind" | b"--dev-bind" | b"--ro-bind-try" | b"--bind-try" | b"--dev-bind-try" | b"--symlink" => {
                next()?;
                mounts.push((next()?, false));
            }
            b"--dir" | b"--tmpfs" | b"--proc" | b"--dev" | b"--remount-ro" | b"--mqueue" => mounts.push((next()?, false)),
            _ => return None,
        }
    }
    Some(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(args: &[&str]) -> Shown {
        let data: Vec<u8> = args.iter().flat_map(|a| [a.as_bytes(), b"\0"].concat()).collect();
        Shown(parse(&data))
    }

    #[test]
    fn a_tree_already_bound_read_only_covers_what_it_holds() {
        let tmp = std::fs::canonicalize(std::env::temp_dir()).unwrap();
        let ws = tmp.join(format!("binds-test-{}", std::process::id()));
        std::fs::create_dir_all(ws.join("target/debug")).unwrap();
        let w = ws.to_str().unwrap();
        let s = shown(&["--unshare-user", "--tmpfs", "/tmp", "--ro-bind", w, w]);
        assert!(s.covers(&ws));
        assert!(s.covers(&ws.join("target/debug")));
        assert!(!s.covers(&ws.join("missing")), "a path that is not there is not shown");
        // A writable bind inside, after the tree: a read-only bind over it would change the view.
        let mut s = shown(&["--ro-bind", w, w]);
        s.add(&ws.join("target"), false);
        assert!(!s.covers(&ws.join("target/debug")));
        assert!(!s.covers(&ws), "the bind would cover the writable one");
        // A link on the way: the sandbox's path may not be the host's.
        let link = tmp.join(format!("binds-link-{}", std::process::id()));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&ws, &link).unwrap();
        let l = link.to_str().unwrap();
        assert!(!shown(&["--ro-bind", l, l]).covers(&link.join("target")));
        assert!(!shown(&["--ro-bind", w, w]).covers(&link.join("target")));
        // Bound from elsewhere, an unknown option, a mask above: nothing is skipped.
        assert!(!shown(&["--ro-bind", "/usr", w]).covers(&ws.join("target")));
        assert!(!shown(&["--ro-bind", w, w, "--made-up"]).covers(&ws.join("target")));
        assert!(!shown(&["--ro-bind", w, w, "--tmpfs", w]).covers(&ws.join("target")));
        std::fs::remove_file(&link).unwrap();
        std::fs::remove_dir_all(&ws).unwrap();
    }
}
