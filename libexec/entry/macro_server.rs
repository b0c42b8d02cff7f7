// rust-analyzer's proc-macro server for one workspace, under the same two layers as every
// compilation: bubblewrap with the session's view (setup.args, finish.args), then the supervisor
// (libexec/confine.rs: seccomp, a fresh session keyring, Landlock, no TCP, non-dumpable), with the
// workspace's memory, file-size and process limits. Started by cargo-sandbox's relay
// (src/cli/proc-macro-relay.ts), one per workspace whose macros rust-analyzer asks for.
//
// The server speaks JSON lines on stdin and stdout for as long as the editor runs: the supervisor
// passes both through untouched (`--pass-output`: no cap that would cut the protocol, no line
// handling, no buffering) and reads no cargo directives. No timeout here: the server lives as long
// as the editor; the relay bounds each request instead.
//
// Usage (entry mode `proc-macro-server`): ENTRY SERVER READ-ONLY-DIR... — the real
// rust-analyzer-proc-macro-srv of the toolchain, then the directories its macros may read beyond the
// session's view (the workspace's target dir).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::descriptors::inherit_fds;
use crate::die;
use crate::jail::{push, sandbox_programs, session_args};
use crate::launch::{set_limits, RLIMIT_AS, RLIMIT_FSIZE};
use crate::policy::{package_policy_of, EnvFilter};

/// What rust-analyzer sets for its server (the server refuses to start without it).
const RA_VARIABLE: &str = "RUST_ANALYZER_INTERNALS_DO_NOT_USE";

pub(crate) fn main(rest: Vec<OsString>) -> ! {
    let server = rest.first().cloned().unwrap_or_else(|| die("proc-macro-server: no server to run"));
    if !Path::new(&server).is_absolute() || !Path::new(&server).is_file() {
        die(&format!("the proc-macro server {} is missing", Path::new(&server).display()));
    }
    let s = crate::session::current();
    let session = &s.dir;
    let (bwrap, confine) = sandbox_programs(&s);
    // The workspace's global grants and limits (no package's own: one server loads every macro).
    let pkg = package_policy_of(session, "", "");
    let mut a: Vec<OsString> = vec!["--args".into(), "3".into()];
    // The server's own libraries (librustc_driver, LLVM) beside it in the toolchain, which the
    // session shows when it lives under rustup's home; a toolchain elsewhere (`path =`) is shown here.
    if let Some(sysroot) = Path::new(&server).parent().and_then(Path::parent) {
        push(&mut a, &["--ro-bind".as_ref(), sysroot.as_os_str(), sysroot.as_os_str()]);
    }
    for dir in rest[1..].iter().filter(|d| Path::new(d).is_dir()) {
        push(&mut a, &["--ro-bind".as_ref(), dir, dir]);
    }
    // No network at all: macros in the IDE get no grant (a build may give a macro's package one).
    a.push("--unshare-net".into());
    push(&mut a, &["--ro-bind".as_ref(), &confine, &confine, "--args".as_ref(), "4".as_ref(), "--chdir".as_ref(), "/".as_ref()]);
    push(
        &mut a,
        &["--".as_ref(), &confine, "--what".as_ref(), "rust-analyzer's proc-macro server".as_ref(), "--no-directives".as_ref(), "--pass-output".as_ref(), "--no-network".as_ref()],
    );
    // The server copies each library it loads into /tmp: counted in max-disk like a build script's.
    if let Some(v) = &pkg.max_disk {
        push(&mut a, &["--max-disk".as_ref(), v]);
    }
    a.push("--".into());
    a.push(server);

    let mut cmd = Command::new(&bwrap);
    cmd.args(&a).env_clear().envs(EnvFilter::load(session).apply(&pkg)).env(RA_VARIABLE, "this is unstable");
    inherit_fds(&mut cmd, session_args(session, &pkg), pkg.cgroup.as_ref());
    set_limits(&mut cmd, [(RLIMIT_FSIZE, pkg.max_file_size), (RLIMIT_AS, pkg.max_memory)]);
    // The relay killed: this process (bwrap once exec'd; bwrap has --die-with-parent too).
    crate::lifetime::die_with_parent();
    let err = cmd.exec();
    die(&format!("cannot start {}: {err}", Path::new(&bwrap).display()))
}
