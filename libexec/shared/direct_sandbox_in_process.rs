// A program the sandbox starts without an exec: the supervisor (libexec/confine.rs), whose code
// the entry points carry (entry/in_process.rs). An exec of its static binary costs ~0.45 ms of CPU
// per sandboxed process here: the exec, the fresh image's page faults, and glibc's start (which
// asks the CPU about its caches, a trap per question in a virtual machine). What that exec would
// have done to this process (a copy of the entry point, forked by the sandbox's PID 1) is done
// first, so the supervisor starts as it would from its own binary:
//   - the environment it was to get (bwrap's --setenv/--unsetenv);
//   - every close-on-exec descriptor closed (this process's own: the builder's, the entry
//     point's), the others kept (the program's, and those its arguments name);
//   - every signal handler back to the default (PID 1's, the entry point's), SIGPIPE ignored as
//     Rust's runtime sets it at start (the program gets the default back from its spawn); Rust's
//     own stack-overflow handlers kept, as a fresh runtime installs them;
//   - its name: the binary's, as exec sets it (tests and `ps` recognise the supervisor by it).
// Unlike an exec, it stays not dumpable from birth (PID 1 is not; the supervisor makes itself so
// at once anyway), and its memory is a copy of the entry point's: nothing the program may see —
// it cannot read a process that is not dumpable (no capability, and none over the host's user
// namespace, where this memory was made).

use super::sys;
use super::view::View;
use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

extern "C" {
    fn fcntl(fd: i32, cmd: i32, ...) -> i32;
    fn close(fd: i32) -> i32;
    fn sigaction(sig: i32, new: *const SigAction, old: *mut SigAction) -> i32;
}

/// glibc's struct sigaction on x86_64 and aarch64 (the handler, the mask, the flags, the restorer).
#[repr(C)]
struct SigAction {
    handler: usize,
    mask: [u64; 16],
    flags: i32,
    restorer: usize,
}

const F_GETFD: i32 = 1;
const FD_CLOEXEC: i32 = 1;
const SIG_DFL: usize = 0;
const SIG_IGN: usize = 1;
const SIGBUS: i32 = 7;
const SIGKILL: i32 = 9;
const SIGSEGV: i32 = 11;
const SIGPIPE: i32 = 13;
const SIGSTOP: i32 = 19;
/// The last real-time signal (SIGRTMAX) on Linux.
const LAST_SIGNAL: i32 = 64;

/// A program the sandbox runs in its own process.
pub struct InProcess<'a> {
    /// Its path, as the arguments name it (`-- PATH ARGS...`): only this program is run so.
    pub path: &'a OsStr,
    /// Its code, given the arguments after the path; it exits, never returns.
    pub run: fn(Vec<OsString>) -> !,
}

/// Runs `carried` (`program[0]`) in this process, as if exec'd; returns only why it could not.
pub(super) fn become_program(carried: &InProcess, view: &View, program: &[OsString]) -> String {
    for (name, value) in &view.env {
        match value {
            Some(v) => std::env::set_var(name, v),
            None => std::env::remove_var(name),
        }
    }
    if let Err(e) = close_on_exec_descriptors().and_then(|()| default_signals()).and_then(|()| name_after(&program[0])) {
        return e;
    }
    (carried.run)(program[1..].to_vec())
}

/// Closes what an exec would close. Fails closed: a descriptor list that cannot be read stops.
fn close_on_exec_descriptors() -> Result<(), String> {
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| format!("cannot list this process's descriptors (/proc/self/fd): {e}"))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    // (The listing's own descriptor is closed by now: fcntl answers EBADF for it.)
    for fd in open.into_iter().filter(|&fd| fd > 2) {
        // SAFETY: fcntl(F_GETFD) takes a descriptor number; one that is not open returns -1.
        let flags = unsafe { fcntl(fd, F_GETFD) };
        // SAFETY: fd is open and close-on-exec: this process's own, which nothing else here holds.
        if flags >= 0 && flags & FD_CLOEXEC != 0 && unsafe { close(fd) } != 0 {
            return Err(format!("cannot close descriptor {fd}: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

fn default_signals() -> Result<(), String> {
    for sig in (1..=LAST_SIGNAL).filter(|s| ![SIGKILL, SIGSTOP, SIGSEGV, SIGBUS].contains(s)) {
        let mut old = SigAction { handler: SIG_DFL, mask: [0; 16], flags: 0, restorer: 0 };
        // SAFETY: a null new action only reads the current one into `old`, a live struct sigaction.
        // (32 and 33 are glibc's own: it answers EINVAL for them, and they are left as they are.)
        if unsafe { sigaction(sig, std::ptr::null(), &mut old) } != 0 {
            continue;
        }
        // (An ignored signal stays ignored across an exec; SIGPIPE is, as Rust's runtime sets it.)
        let wanted = if sig == SIGPIPE || old.handler == SIG_IGN { SIG_IGN } else { SIG_DFL };
        if old.handler != wanted {
            let new = SigAction { handler: wanted, mask: [0; 16], flags: 0, restorer: 0 };
            // SAFETY: `new` is a live struct sigaction installing no handler of ours (SIG_DFL or SIG_IGN).
            if unsafe { sigaction(sig, &new, std::ptr::null_mut()) } != 0 {
                return Err(format!("cannot reset the action of signal {sig}: {}", std::io::Error::last_os_error()));
            }
        }
    }
    Ok(())
}

/// The name exec gives a process: its file's, at most 15 bytes.
fn name_after(path: &OsStr) -> Result<(), String> {
    let base = path.as_bytes().rsplit(|&b| b == b'/').next().unwrap_or_default();
    let name = CString::new(&base[..base.len().min(15)]).map_err(|_| format!("{} names no program", path.to_string_lossy()))?;
    sys::set_name(&name).map_err(|e| format!("PR_SET_NAME: {e}"))
}
