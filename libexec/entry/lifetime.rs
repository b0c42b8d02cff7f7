// Nothing we start outlives the cargo that started us. Plain cargo leaves its children running
// when it is killed (SIGKILL: no chance to clean up); a sandboxed compilation or audited build
// script that kept running would keep its network proxy, and with it its allowed destinations,
// with nobody left to stop it. The kernel's parent-death signal ends each link of the chain:
// cargo-sandbox → cargo (started through this program, CARGO_NAME, or by the front end, which
// sets the signal itself) → this wrapper or launcher → its children (bwrap dies with its parent by
// itself, `--die-with-parent`; the proxy and strace are told here).

use std::os::unix::process::CommandExt;
use std::process::Command;

extern "C" {
    fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
    fn getppid() -> i32;
    fn getpid() -> i32;
    fn _exit(code: i32) -> !;
}
const PR_SET_PDEATHSIG: i32 = 1;
const SIGKILL: u64 = 9;

/// The name under which this program execs cargo (its arguments) for cargo-sandbox's Node side.
pub(crate) const CARGO_NAME: &str = "cargo-sandbox-cargo";

/// Becomes `program` (PATH searched), killed when the process that started us ends. The
/// environment is passed as it is: this is plain cargo's start, not a sandboxed one.
pub(crate) fn exec_dying_with_parent(program: &[std::ffi::OsString]) -> ! {
    if program.is_empty() {
        crate::die("no program to run");
    }
    die_with_parent();
    let err = Command::new(&program[0]).args(&program[1..]).exec();
    crate::die(&format!("cannot run {}: {err}", program[0].to_string_lossy()))
}

/// The name under which this program runs its arguments as its child for cargo-sandbox's Node
/// side, when they are an entry point of ours: they find the session in the environment this
/// process was started with (session.rs), as they would in cargo's.
pub(crate) const PARENT_NAME: &str = "cargo-sandbox-parent";

/// Runs `program` as a child, dying with our parent, and exits as it did.
pub(crate) fn run_as_parent(program: &[std::ffi::OsString]) -> ! {
    if program.is_empty() {
        crate::die("no program to run");
    }
    die_with_parent();
    let mut cmd = Command::new(&program[0]);
    cmd.args(&program[1..]);
    dies_with_us(&mut cmd);
    let status = cmd.status().unwrap_or_else(|e| crate::die(&format!("cannot run {}: {e}", program[0].to_string_lossy())));
    std::process::exit(status.code().unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)))
}

/// This process is killed when the thread that started it ends (cargo's job thread, which waits
/// for it). Already orphaned: exits at once.
pub(crate) fn die_with_parent() {
    // SAFETY: getppid takes no arguments and cannot fail.
    let parent = unsafe { getppid() };
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes plain integers; getppid cannot fail.
    if unsafe { prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) } != 0 || unsafe { getppid() } != parent {
        crate::die("cargo, which started this, is gone (or the parent-death signal could not be set)");
    }
}

/// The child `cmd` starts is killed when this process ends (the signal survives its exec).
pub(crate) fn dies_with_us(cmd: &mut Command) {
    // SAFETY: getpid takes no arguments and cannot fail.
    let parent = unsafe { getpid() };
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl, getppid and _exit, which are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // A failure reaches the parent, whose spawn fails with its errno.
            if prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Our parent already gone: nobody waits for an error, and the child must not start.
            if getppid() != parent {
                _exit(1);
            }
            Ok(())
        });
    }
}
