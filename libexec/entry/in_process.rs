// The direct builder run by an entry point in its own process, when the session's builder is ours
// (session.data's `builder-in-process`, set by src/backends/preflight.ts's choice): the sandbox is
// made by the same code (shared/direct_sandbox.rs) from the same arguments, descriptors, cgroup,
// limits and environment as `direct-sandbox ARGS...` started by exec — without that exec of a
// second static program, which costs ~0.6 ms of CPU per sandboxed process here (a static exec hop
// in front of the builder, 3 × 400 alternating runs). Bubblewrap, a custom runner and strace
// (`cargo sandbox audit`) are still exec'd.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::process::Command;

use crate::session::Session;

extern "C" {
    fn signal(sig: i32, handler: usize) -> usize;
    fn pipe2(fds: *mut i32, flags: i32) -> i32;
    fn fork() -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn dup2(old: i32, new: i32) -> i32;
}
const SIGPIPE: i32 = 13;
const SIG_DFL: usize = 0;
const O_CLOEXEC: i32 = 0o2000000;

/// Whether `program` (to be started as `PROGRAM OPTIONS... -- ...`) is the session's own direct builder.
pub(crate) fn applies(s: &Session, program: &OsStr) -> bool {
    s.builder_in_process && program == s.builder
}

/// Becomes the builder: what an exec of `program` would have been, in this process, which then
/// runs the `supervisor` it starts in the sandbox without an exec either (its code is ours:
/// shared/direct_sandbox_in_process.rs). Never returns.
pub(crate) fn become_builder(
    program: &[OsString],
    supervisor: &OsStr,
    env: Vec<(OsString, OsString)>,
    files: Vec<(File, i32)>,
    cgroup: Option<&OsString>,
    limits: [(i32, Option<u64>); 2],
) -> ! {
    // What exec would have handed the builder: the files on their descriptors (`--args 3`, ...),
    // everything else closed in what it starts, the package's cgroup and limits...
    crate::descriptors::place_here(files, cgroup);
    if let Err(e) = crate::launch::apply_limits(limits) {
        crate::die(&format!("cannot set the package's limits: {e}"));
    }
    // ...only the environment it was to get (the builder hands its own to the program)...
    for (name, _) in std::env::vars_os() {
        std::env::remove_var(name);
    }
    for (name, value) in env {
        std::env::set_var(name, value);
    }
    // ...and SIGPIPE's default action, which Rust's runtime set aside here and an exec'd program
    // gets back (an ignored signal stays ignored across the sandboxed program's own exec).
    // SAFETY: signal takes integers; SIG_DFL installs no handler of ours.
    unsafe { signal(SIGPIPE, SIG_DFL) };
    let carried = crate::direct_sandbox::InProcess { path: supervisor, run: crate::confine::run };
    crate::direct_sandbox::main(&program[1..], Some(&carried))
}

/// A compilation's builder, in a child of this process (which stays, to relay the compiler's
/// stderr and move its outputs: entry/jail.rs): `cmd` as prepared for exec (the builder and its
/// arguments, the environment's changes), forked instead. With `piped_stderr`, the read end of
/// the child's stderr.
pub(crate) fn spawn_builder(
    cmd: &Command,
    supervisor: &OsStr,
    files: Vec<(File, i32)>,
    cgroup: Option<&OsString>,
    limits: [(i32, Option<u64>); 2],
    piped_stderr: bool,
) -> (i32, Option<File>) {
    let program: Vec<OsString> = std::iter::once(cmd.get_program()).chain(cmd.get_args()).map(OsStr::to_os_string).collect();
    // (jail.rs changes the inherited environment, never clears it: what exec would have passed.)
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    for (name, value) in cmd.get_envs() {
        env.retain(|(n, _)| n != name);
        if let Some(v) = value {
            env.push((name.to_os_string(), v.to_os_string()));
        }
    }
    let (read, write) = match piped_stderr {
        true => {
            let mut fds = [-1i32; 2];
            // SAFETY: fds has room for the two descriptors pipe2 writes.
            if unsafe { pipe2(fds.as_mut_ptr(), O_CLOEXEC) } != 0 {
                crate::die(&format!("pipe: {}", std::io::Error::last_os_error()));
            }
            // SAFETY: both descriptors were just made and are owned by nobody else.
            unsafe { (Some(File::from_raw_fd(fds[0])), Some(File::from_raw_fd(fds[1]))) }
        }
        false => (None, None),
    };
    // SAFETY: this process is single-threaded here (the proxy is a process of its own; audit's
    // trace thread is only started around strace, which is exec'd): the child may run anything.
    let pid = unsafe { fork() };
    if pid < 0 {
        crate::die(&format!("cannot start the sandbox builder: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        if let Some(w) = &write {
            // SAFETY: dup2 takes two descriptors of ours; the copy on 2 is not close-on-exec.
            if unsafe { dup2(w.as_raw_fd(), 2) } < 0 {
                crate::die(&format!("cannot pipe the sandbox's stderr: {}", std::io::Error::last_os_error()));
            }
        }
        drop((read, write));
        become_builder(&program, supervisor, env, files, cgroup, limits);
    }
    (pid, read)
}

/// The builder's exit code (128 + signal, as bubblewrap's is read).
pub(crate) fn wait(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: status is a live i32; pid is our child.
    while unsafe { waitpid(pid, &mut status, 0) } != pid {
        if std::io::Error::last_os_error().raw_os_error() != Some(4) {
            crate::die(&format!("lost the sandbox builder: {}", std::io::Error::last_os_error()));
        }
    }
    crate::direct_sandbox::exit_code(status)
}
