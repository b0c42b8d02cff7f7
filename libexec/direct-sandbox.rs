// What builds each sandbox, unless bubblewrap is asked for or this machine refuses the direct
// path (src/backends/preflight.ts): `direct-sandbox [bubblewrap's options] -- PROGRAM [ARGS...]`.
// It takes the options cargo-sandbox gives bubblewrap (the session's setup.args and finish.args
// through --args FD, the entry points' own, --json-status-fd), so the two are interchangeable at
// the session's `sandbox-builder`; it makes the same view through descriptors
// (shared/direct_sandbox.rs), in one static process, at about half bubblewrap's cost.

#![warn(clippy::undocumented_unsafe_blocks)]

#[path = "shared/direct_sandbox.rs"]
mod direct_sandbox;

fn fail(e: &str) -> ! {
    eprintln!("error: cargo-sandbox: cannot build the sandbox: {e}");
    std::process::exit(1)
}

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let (view, program) = direct_sandbox::from_bwrap_args(&args).unwrap_or_else(|e| fail(&e));
    if program.is_empty() {
        fail("no program to run")
    }
    let code = direct_sandbox::run(&view, &program).unwrap_or_else(|e| fail(&e));
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
