// The sandbox built directly, without bubblewrap (issue 29): the default builder where the kernel
// allows it (src/backends/preflight.ts chooses; bubblewrap is the fallback). It takes the options
// cargo-sandbox gives bubblewrap (the session's setup.args and finish.args through `--args FD`,
// the entry points' own), read into a view (direct_sandbox_view.rs: `Op`s in bwrap's order), and
// builds it in one process:
//   - clone into new user (uid and gid mapped to themselves, setgroups denied), mount, pid, ipc,
//     uts, cgroup namespaces, and network unless shared (then `lo` is brought up);
//   - a fresh tmpfs root; every bind through descriptors: the source opened with openat2
//     RESOLVE_NO_SYMLINKS (or RESOLVE_BENEATH below a trusted root; the session's own binds follow
//     the user's links), cloned with open_tree (OPEN_TREE_CLONE | AT_RECURSIVE), made
//     read-only/nosuid/nodev with one mount_setattr AT_RECURSIVE (no mountinfo), attached with
//     move_mount onto a mount point resolved with RESOLVE_IN_ROOT in the new root
//     (direct_sandbox_mounts.rs);
//   - pivot_root, the old root detached; all capabilities dropped (bounding set included: an exec
//     as uid 0 regains none), no_new_privs; a new session; PR_SET_PDEATHSIG (die with parent);
//   - a PID 1 of ours, `sandbox-init` (direct_sandbox_process.rs), without privileges and not
//     dumpable, that reaps, passes on signals from outside only and exits with the program's
//     status, which it sends the caller first (the namespaces' teardown, ~1 ms, is not waited for).
//
// Run as `direct-sandbox OPTIONS... -- PROGRAM` (libexec/direct-sandbox.rs), or by an entry point
// in its own process (entry/in_process.rs): `main` below is both.
//
// Kernel features: the new mount API (open_tree, move_mount, fsopen/fsconfig/fsmount: 5.2),
// openat2 (5.6), mount_setattr (5.12); user namespaces for unprivileged users.
//
// Differences from bwrap 0.8 (tests/direct_sandbox.rs): a link as a per-process bind source is
// refused here (bwrap follows it); /proc/sys and /proc/sysrq-trigger are read-only here (bwrap
// covers only /proc/irq and /proc/bus); mount points are resolved inside the new root (bwrap
// resolves them as host paths under its new root, so an absolute link there leads out of it).
// Not understood (the session uses none): --seccomp, --perms, --bind-data/--file, --dev-bind,
// --uid/--gid. The next step for speed is the template of issue 29: one mount namespace per build,
// entered per process.

#[path = "direct_sandbox_in_process.rs"]
mod in_process;
#[path = "direct_sandbox_mounts.rs"]
mod mounts;
#[path = "direct_sandbox_process.rs"]
mod process;
#[path = "direct_sandbox_sys.rs"]
mod sys;
#[path = "direct_sandbox_view.rs"]
mod view;

pub use in_process::InProcess;
pub use process::run;
// (Used by the entry points, which wait for a builder they forked: entry/in_process.rs.)
#[allow(unused_imports)]
pub use process::code as exit_code;
#[allow(unused_imports)]
pub use view::{from_bwrap_args, Op, View};

fn fail(e: &str) -> ! {
    eprintln!("error: cargo-sandbox: cannot build the sandbox: {e}");
    std::process::exit(1)
}

/// `direct-sandbox ARGS...` (bubblewrap's options, `--`, the program): builds the sandbox, runs the
/// program in it and exits with its status. Also what an entry point becomes when it builds the
/// sandbox in its own process (entry/in_process.rs), so the two are one; it also names the
/// program it carries (the supervisor), run without an exec.
pub fn main(args: &[std::ffi::OsString], in_process: Option<&InProcess>) -> ! {
    let (view, program) = from_bwrap_args(args).unwrap_or_else(|e| fail(&e));
    if program.is_empty() {
        fail("no program to run")
    }
    let code = run(&view, &program, in_process).unwrap_or_else(|e| fail(&e));
    // As bwrap writes it; the run record's reader (src/intercept/session.ts) takes the last "exit-code".
    if let Some(fd) = view.json_status_fd {
        use std::io::Write;
        use std::os::unix::io::FromRawFd;
        // SAFETY: the descriptor was handed to us for this (bwrap's --json-status-fd) and nothing else owns it.
        let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
        let _ = writeln!(f, "{{ \"exit-code\": {code} }}");
    }
    std::process::exit(code)
}
