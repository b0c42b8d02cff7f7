// The direct sandbox builder (shared/direct_sandbox.rs) from the command line, for its tests and
// timing: `direct-sandbox [bubblewrap's options] -- PROGRAM [ARGS...]`, the options as bwrap takes
// them (--args FD included), plus `--trusted-root DIR`. Not used by builds yet.

#![warn(clippy::undocumented_unsafe_blocks)]

#[path = "shared/direct_sandbox.rs"]
mod direct_sandbox;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let (view, program) = direct_sandbox::from_bwrap_args(&args).unwrap_or_else(|e| {
        eprintln!("error: direct-sandbox: {e}");
        std::process::exit(1)
    });
    if program.is_empty() {
        eprintln!("error: direct-sandbox: no program to run");
        std::process::exit(1)
    }
    match direct_sandbox::run(&view, &program) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: direct-sandbox: {e}");
            std::process::exit(1)
        }
    }
}
