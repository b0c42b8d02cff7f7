// The descriptors what we start inherits: the files it is handed on purpose (bwrap's `--args`,
// `--json-status-fd`, ...), the jobserver's copies (jobserver.rs), 0-2, and nothing else.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::die;

extern "C" {
    fn fcntl(fd: i32, cmd: i32, ...) -> i32;
    fn dup2(old: i32, new: i32) -> i32;
    fn open(path: *const i8, flags: i32, ...) -> i32;
    fn write(fd: i32, buf: *const u8, n: usize) -> isize;
    fn close(fd: i32) -> i32;
}
const F_DUPFD: i32 = 0;
const F_SETFD: i32 = 2;
const FD_CLOEXEC: i32 = 1;
const O_WRONLY: i32 = 1;
const O_CLOEXEC: i32 = 0o2000000;

/// Every descriptor this process was started with beyond 0-2, but for the jobserver's copies we
/// pass on (jobserver.rs), is closed in what it starts: a pipe of whoever started cargo (an IDE,
/// a CI runner, an outer make) would otherwise reach the sandboxed program, which could write into
/// it or read from it. Plain cargo passes them on; programs we run on the host keep them.
fn close_inherited_on_exec() {
    let keep = crate::jobserver::passed();
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .unwrap_or_else(|e| die(&format!("cannot list this process's descriptors: {e}")))
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    for fd in open.into_iter().filter(|fd| *fd > 2 && !keep.contains(fd)) {
        // SAFETY: fcntl(F_SETFD) on a descriptor number takes plain integers; it changes only that descriptor's flag.
        if unsafe { fcntl(fd, F_SETFD, FD_CLOEXEC) } != 0 {
            let e = std::io::Error::last_os_error();
            // The listing's own descriptor, closed by now.
            if e.raw_os_error() != Some(9) {
                die(&format!("cannot keep descriptor {fd} out of the sandbox: {e}"));
            }
        }
    }
}

/// In the child: each file on the descriptor bwrap reads it from (`--args 3`, `--json-status-fd 5`,
/// ...), and, for max-processes, the child (so bwrap and everything in it) in the package's pids
/// cgroup.
pub(crate) fn inherit_fds(cmd: &mut Command, files: Vec<(File, i32)>, cgroup: Option<&OsString>) {
    let placement = Placement::new(files, cgroup);
    // SAFETY: the closure runs in the child between fork and exec; `apply` only calls fcntl, dup2, open, write and close on descriptors and a path prepared before the fork, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || placement.apply());
    }
}

/// The same, in this process, which then builds the sandbox itself (in_process.rs).
pub(crate) fn place_here(files: Vec<(File, i32)>, cgroup: Option<&OsString>) {
    let placement = Placement::new(files, cgroup);
    if let Err(e) = placement.apply() {
        die(&format!("cannot hand the sandbox its descriptors or join the package's cgroup: {e}"));
    }
    // Not closed: a file's old descriptor may be another's target by now (the others are
    // close-on-exec, as Rust opens every file, and go at the sandboxed program's exec).
    std::mem::forget(placement);
}

/// The files to put on their descriptors and the cgroup file to join, prepared before a fork.
struct Placement {
    files: Vec<(File, i32)>,
    cgroup: Option<CString>,
}

/// The copies above 10 are counted in a fixed array: the child must not allocate.
const MOST: usize = 8;

impl Placement {
    fn new(files: Vec<(File, i32)>, cgroup: Option<&OsString>) -> Placement {
        close_inherited_on_exec();
        // The child is single-threaded: moving just this thread (cgroup v1's `tasks`, pid 0) spares the
        // kernel the global lock a whole-process move takes (an RCU grace period, ~10 ms here); its
        // children are born in the cgroup all the same. cgroup v2 has `cgroup.procs` only.
        let cgroup = cgroup.map(|c| {
            let tasks = Path::new(c).join("tasks");
            let file = if tasks.exists() { tasks } else { Path::new(c).join("cgroup.procs") };
            CString::new(file.as_os_str().as_bytes()).unwrap_or_else(|_| die("bad cgroup path"))
        });
        if files.len() > MOST {
            die("too many descriptors for the sandbox");
        }
        Placement { files, cgroup }
    }

    /// Allocates nothing: it may run between fork and exec.
    fn apply(&self) -> std::io::Result<()> {
        let files = &self.files;
        // SAFETY: fcntl, dup2, open, write and close take integers, a NUL-terminated path prepared
        // beforehand and a live one-byte buffer; they change only this process's descriptors.
        unsafe {
            // Moved above 10 first, so that no file lands on another's target descriptor.
            let mut high = [-1i32; MOST];
            for ((file, _), slot) in files.iter().zip(high.iter_mut()) {
                *slot = fcntl(file.as_raw_fd(), F_DUPFD, 10);
                if *slot < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            let high = &high[..files.len()];
            for (fd, (_, target)) in high.iter().zip(files) {
                if dup2(*fd, *target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // The copies above 10 would otherwise reach the sandboxed program.
            for &fd in high {
                if close(fd) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if let Some(procs) = &self.cgroup {
                // (An error of our own would reach the parent as EINVAL: std hands on errnos only.)
                let fd = open(procs.as_ptr(), O_WRONLY | O_CLOEXEC);
                if fd < 0 || write(fd, b"0".as_ptr(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                if close(fd) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
        }
        Ok(())
    }
}
