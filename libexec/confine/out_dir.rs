// OUT_DIR after the script, before cargo and rustc (outside this sandbox) read it:
//   - first, every process the script left in the sandbox is killed, so none can plant anything
//     after the sweep;
//   - symlinks are kept only when they stay inside OUT_DIR both as written and as resolved on disk
//     (a `..` after a symlinked directory leads elsewhere than the text says); the others go;
//   - FIFOs, sockets and device nodes go (rustc would hang on a FIFO it includes);
//   - setuid, setgid and world-writable bits are dropped.
// An entry the sweep cannot remove (the script made its directory read-only) is made removable;
// if it still cannot be removed, the supervisor fails: nothing unswept reaches cargo.

use super::{die, kill, Report};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// What the sandbox's init (PID 1) is called: bubblewrap's, or our direct builder's
/// (shared/direct_sandbox_process.rs names it so).
const SANDBOX_INITS: [&str; 2] = ["bwrap", "sandbox-init"];

/// Kills every process of the sandbox but its init (PID 1) and this supervisor, and waits until
/// none runs. Only as the sandbox's PID 2: anywhere else, kill(-1) would reach the user's own
/// processes.
pub(crate) fn kill_leftovers() {
    let init = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
    if std::process::id() != 2 || !SANDBOX_INITS.contains(&init.trim_end()) {
        die("the supervisor must run as the sandbox's first process in a PID namespace of its own");
    }
    // SAFETY: kill(-1, SIGKILL) takes plain integers; inside the sandbox's PID namespace it reaches only what the script left running.
    if unsafe { kill(-1, 9) } != 0 && std::io::Error::last_os_error().raw_os_error() != Some(3) {
        // ESRCH: nothing was left. Anything else: whatever runs is found below, and stops us.
        eprintln!("warning: cargo-sandbox: cannot signal the processes left in the sandbox: {}", std::io::Error::last_os_error());
    }
    for _ in 0..5000 {
        if !others_alive() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    die("processes left behind in the sandbox could not be stopped; its output was not handed to cargo");
}

/// Whether a process other than PID 1 and this one still runs (zombies plant nothing).
fn others_alive() -> bool {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc").into_iter().flatten().flatten().any(|e| {
        let name = e.file_name();
        let pid = name.to_string_lossy();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == "1" || pid == me {
            return false;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()).unwrap_or("Z");
        state != "Z" && state != "X"
    })
}

pub(crate) fn sweep_out_dir(root: &Path, dir: &Path, report: &mut Report) {
    let real_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    sweep(root, &real_root, dir, report);
}

fn sweep(root: &Path, real_root: &Path, dir: &Path, report: &mut Report) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => die(&format!("cannot sweep {}: {e}", dir.display())),
    };
    // Nothing else changes OUT_DIR now (the script's processes are gone): any error, a path too
    // long to look at included, means an entry the sweep cannot vouch for, so it fails.
    for e in entries {
        let path = e.unwrap_or_else(|e| die(&format!("cannot sweep {}: {e}", dir.display()))).path();
        let meta = std::fs::symlink_metadata(&path).unwrap_or_else(|e| die(&format!("cannot sweep {}: {e}; stopped", path.display())));
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = std::fs::read_link(&path).unwrap_or_default();
            let as_written = normalize(&dir.join(&target)).starts_with(root);
            let on_disk = std::fs::canonicalize(&path).is_ok_and(|p| p.starts_with(real_root));
            if !(as_written && on_disk) {
                remove(&path, report);
                report.add("symlink", path.as_os_str().as_bytes(), &target.to_string_lossy());
            }
            continue;
        }
        if kind.is_fifo() || kind.is_socket() || kind.is_char_device() || kind.is_block_device() {
            remove(&path, report);
            let what = if kind.is_fifo() {
                "fifo"
            } else if kind.is_socket() {
                "socket"
            } else {
                "device"
            };
            report.add("special", path.as_os_str().as_bytes(), what);
            continue;
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o6002 != 0 {
            set_mode(&path, mode & !0o6002);
            report.add("mode", path.as_os_str().as_bytes(), &format!("{mode:o}"));
        }
        if kind.is_dir() {
            // Its own directories stay readable and writable for the sweep (and for cargo's next run).
            if mode & 0o700 != 0o700 {
                set_mode(&path, (mode & !0o6002) | 0o700);
            }
            sweep(root, real_root, &path, report);
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        die(&format!("cannot change the mode of {} left in OUT_DIR ({e}); stopped", path.display()));
    }
}

/// Removes one entry; a read-only parent (the script's doing) is made writable first.
fn remove(path: &Path, report: &mut Report) {
    if std::fs::remove_file(path).is_ok() {
        return;
    }
    if let Some(parent) = path.parent() {
        let _ = std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755));
    }
    if let Err(e) = std::fs::remove_file(path) {
        report.add("unremovable", path.as_os_str().as_bytes(), &e.to_string());
        die(&format!("{} was left in the output directory and could not be removed ({e}); stopped", path.display()));
    }
}

/// `a/b/../c` -> `a/c` without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}
