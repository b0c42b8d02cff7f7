// What builds each sandbox, unless bubblewrap is asked for or this machine refuses the direct
// path (src/backends/preflight.ts): `direct-sandbox [bubblewrap's options] -- PROGRAM [ARGS...]`.
// It takes the options cargo-sandbox gives bubblewrap (the session's setup.args and finish.args
// through --args FD, the entry points' own, --json-status-fd), so the two are interchangeable at
// the session's `sandbox-builder`; it makes the same view through descriptors
// (shared/direct_sandbox.rs), in one static process, at about half bubblewrap's cost.

#![warn(clippy::undocumented_unsafe_blocks)]

#[path = "shared/direct_sandbox.rs"]
mod direct_sandbox;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    direct_sandbox::main(&args, None)
}
