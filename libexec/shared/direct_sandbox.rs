// DESIGN NOTE (issue 29, item 1): the sandbox built directly, without bubblewrap. A prototype: not
// wired into builds; libexec/direct-sandbox.rs runs it from the command line for tests and timing.
//
// What it replaces. Today each compilation (entry/jail.rs) and build script (entry/launch.rs)
// starts bwrap with the session's argument lists (setup.args, finish.args from
// src/backends/bwrap.ts) plus its own; bwrap (dynamically linked, two processes) re-reads
// /proc/self/mountinfo for every read-only bind and remounts each submount on its own: ~9 ms fixed
// and ~5 ms of mounts per process. Here the same view is data (direct_sandbox_view.rs: `Op`s in bwrap's order,
// and `from_bwrap_args` to read today's lists), and one static program builds it:
//   - clone into new user (uid and gid mapped to themselves, setgroups denied), mount, pid, ipc,
//     uts, cgroup namespaces, and network unless shared (then `lo` is brought up);
//   - a fresh tmpfs root; every bind through descriptors: the source opened with openat2
//     RESOLVE_NO_SYMLINKS (or RESOLVE_BENEATH below a trusted root), cloned with open_tree
//     (OPEN_TREE_CLONE | AT_RECURSIVE), made read-only/nosuid/nodev with one mount_setattr
//     AT_RECURSIVE (no mountinfo), attached with move_mount onto a mount point resolved with
//     RESOLVE_IN_ROOT in the new root (direct_sandbox_mounts.rs);
//   - pivot_root, the old root detached; all capabilities dropped (bounding set included: an exec
//     as uid 0 regains none), no_new_privs; a new session; PR_SET_PDEATHSIG (die with parent);
//   - a PID 1 of ours (direct_sandbox_process.rs) that reaps, forwards signals and exits with the program's
//     status, or (View::init false) the program itself as PID 1. The supervisor (confine.rs)
//     could be PID 1 and save a process: it would need a handler for every signal it is to receive
//     from outside (PID 1 gets none without one), to reap orphans (waitpid(-1) besides its own
//     child), and to know that its exit kills every process left (which it wants anyway).
//
// Kernel features: the new mount API (open_tree, move_mount, fsopen/fsconfig/fsmount: 5.2),
// openat2 (5.6), mount_setattr (5.12); user namespaces for unprivileged users. Fallback: bwrap,
// exactly as today, where one of these is missing (ENOSYS) or user namespaces are refused.
//
// What remains to wire it in: the session writes its view as data (a record per Op, instead of
// setup.args/finish.args), the entry points add theirs (jail.rs, launch.rs, network.rs's proxy
// socket and hosts binds, sealed.rs's views) and call `run` instead of spawning bwrap; confine.rs
// started by it (as PID 1 or under our init); `cargo sandbox audit`'s strace run, which wraps
// bwrap today; a preflight check choosing between the two; and the template (one mount namespace
// per build, entered per process) measured in the issue as a further step. Not understood yet:
// bwrap's --json-status-fd (launch.rs reads the script's status from it), --seccomp, --perms,
// --bind-data/--file, --dev-bind, --uid/--gid; sources resolved with no symlink at all unless
// below a `trusted` root, so the session must name its roots (home, workspace) as such.
//
// Differences from bwrap 0.8 found by tests/direct_sandbox.rs: a planted link as a bind source
// is refused here (bwrap follows it); /proc/sys and /proc/sysrq-trigger are read-only here (bwrap
// covers only /proc/irq and /proc/bus); mount points are resolved inside the new root (bwrap
// resolves them as host paths under its new root, so an absolute link there leads out of it).
// Timing (tests/direct_sandbox/bench.rs, 2 loaded cores): realistic view ~5 ms CPU against
// bwrap's ~8.5, ~12-22 ms wall against 20-40; the network namespace costs ~1 ms of it, our PID 1
// ~0.5. As bwrap's, the caller returns on the status PID 1 sends it, not waiting for PID 1's exit
// (the namespaces' teardown, ~1 ms); without our PID 1 it waits for the program's whole exit.

#[path = "direct_sandbox_mounts.rs"]
mod mounts;
#[path = "direct_sandbox_process.rs"]
mod process;
#[path = "direct_sandbox_sys.rs"]
mod sys;
#[path = "direct_sandbox_view.rs"]
mod view;

pub use process::run;
#[allow(unused_imports)]
pub use view::{from_bwrap_args, Op, View};
