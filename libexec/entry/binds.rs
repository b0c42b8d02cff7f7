// Read-only binds that would show nothing new: a directory or file the view already shows, as it is
// on the host, through a read-only bind of a tree that holds it (the workspace, bound by the
// session's setup.args, holds the package's directory and often the target dir; ~/.rustup holds
// rustc). Each bind costs bubblewrap two mount calls (the bind, then its read-only remount), and a
// compilation asked for four to six such. Skipping one is safe only when the view at that path is
// the host's, read-only, either way; `Shown::covers` says when (see there).
//
// Likewise the masks of finish.args (bwrap's `--args 4`) that this call's view never shows: a mask
// over ~/.npmrc costs two mount calls, and shows nothing new when no mount of the call (the
// session's, or this call's own: its package's directory, grants, OUT_DIR) is at it, above it or
// inside it. Without one, the sandbox's path leads only through directories bubblewrap made in
// its own root (or nowhere): no host file is there to hide. A link on the way is no way around it:
// a `--symlink` of the view counts as a mount, and a link inside a bound tree lies below that
// tree's mount, so a mask it could lead to is touched by one. `narrow_finish` drops those masks.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::FromRawFd;
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

/// Replaces the finish.args of `files` (descriptor 4) by a copy without the masks that nothing in
/// the view reaches (see the top of this file): the session's mounts, and those of `call` (the
/// bwrap arguments from `--args 3` on; after `--args 4`, nothing of them mounts). Any argument not
/// understood, or no pipe: the file is left as it is, every mask kept.
pub(crate) fn narrow_finish(files: &mut [(File, i32)], setup: &Shown, call: &[OsString]) {
    let Some(mut mounts) = setup.0.clone() else { return };
    let Some(start) = call.iter().position(|w| w == "--args").filter(|&i| call.get(i + 1).is_some_and(|fd| fd == "3")) else { return };
    let end = call[start + 2..].iter().position(|w| w == "--args").map_or(call.len(), |i| i + start + 2);
    let words: Vec<u8> = call[start + 2..end].iter().flat_map(|w| [w.as_bytes(), b"\0"].concat()).collect();
    let Some(own) = parse(&words) else { return };
    mounts.extend(own);
    let Some((finish, _)) = files.iter_mut().find(|(_, fd)| *fd == 4) else { return };
    let mut data = vec![];
    let read = std::io::Read::read_to_end(finish, &mut data).is_ok();
    match keep_shown(&data, &mounts).filter(|_| read).and_then(|kept| pipe_with(&kept)) {
        Some(pipe) => *finish = pipe,
        // As it was, whole: bwrap reads it from its start (never a part of it: every mask stays).
        None => {
            if std::io::Seek::rewind(finish).is_err() {
                crate::die("cannot read the sandbox policy finish.args again");
            }
        }
    }
}

/// finish.args without the masks (`--tmpfs P --remount-ro P`, `--ro-bind /dev/null P`) at paths
/// that no mount touches; `None` for an argument it does not know.
fn keep_shown(data: &[u8], mounts: &[(PathBuf, bool)]) -> Option<Vec<u8>> {
    let words: Vec<&[u8]> = data.split(|&c| c == 0).collect();
    let words = &words[..words.len().saturating_sub(1)];
    let touched = |p: &[u8]| {
        let p = Path::new(std::ffi::OsStr::from_bytes(p));
        mounts.iter().any(|(d, _)| d.starts_with(p) || p.starts_with(d))
    };
    let (mut out, mut i) = (vec![], 0);
    while i < words.len() {
        let n = match words[i] {
            b"--tmpfs" if words.get(i + 2) == Some(&&b"--remount-ro"[..]) && words.get(i + 3) == words.get(i + 1) => 4,
            b"--ro-bind" | b"--ro-bind-try" => 3,
            b"--remount-ro" => 2,
            _ => return None,
        };
        let unit = words.get(i..i + n)?;
        let mask = n == 4 || (n == 3 && unit[0] == b"--ro-bind" && unit[1] == b"/dev/null");
        if !mask || touched(unit[n - 1]) {
            unit.iter().for_each(|w| out.extend_from_slice(&[w, &b"\0"[..]].concat()));
        }
        i += n;
    }
    Some(out)
}

/// A pipe's read end holding `data` (bwrap reads `--args` to its end), if it fits in the pipe.
fn pipe_with(data: &[u8]) -> Option<File> {
    extern "C" {
        fn pipe2(fds: *mut i32, flags: i32) -> i32;
    }
    const O_CLOEXEC: i32 = 0o2000000;
    // Far below the 64 KiB a pipe holds (finish.args is a few kilobytes): the write cannot block.
    if data.len() > 16384 {
        return None;
    }
    let mut fds = [-1i32; 2];
    // SAFETY: pipe2 writes two descriptors into a live array of two; each is then owned by one File only.
    let (read, mut write) = unsafe {
        if pipe2(fds.as_mut_ptr(), O_CLOEXEC) != 0 {
            return None;
        }
        (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1]))
    };
    write.write_all(data).ok()?;
    Some(read)
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
    fn masks_stay_where_a_mount_is_at_above_or_inside_them() {
        let mounts: Vec<(PathBuf, bool)> = ["/usr", "/home/u/ws", "/home/u/.config/tool", "/lib"].iter().map(|p| (PathBuf::from(p), false)).collect();
        let finish = ["--tmpfs", "/home/u/.ssh", "--remount-ro", "/home/u/.ssh", "--ro-bind", "/dev/null", "/home/u/.npmrc"]
            .iter()
            .chain(&["--tmpfs", "/home/u/.config", "--remount-ro", "/home/u/.config", "--ro-bind", "/dev/null", "/home/u/ws/.env"])
            .chain(&["--ro-bind", "/dev/null", "/lib/x", "--ro-bind", "/s/served-0", "/home/u/.gitconfig", "--ro-bind-try", "/c", "/c", "--remount-ro", "/"]);
        let data: Vec<u8> = finish.flat_map(|a| [a.as_bytes(), b"\0"].concat()).collect();
        let kept = String::from_utf8(keep_shown(&data, &mounts).unwrap()).unwrap().replace('\0', " ");
        assert_eq!(
            kept,
            "--tmpfs /home/u/.config --remount-ro /home/u/.config --ro-bind /dev/null /home/u/ws/.env --ro-bind /dev/null /lib/x --ro-bind /s/served-0 /home/u/.gitconfig --ro-bind-try /c /c --remount-ro / "
        );
        assert!(keep_shown(b"--made-up\0/x\0", &mounts).is_none());
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
