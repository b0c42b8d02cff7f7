// cargo-sandbox's supervisor inside the sandbox: the second layer around one sandboxed process
// (confine/supervisor.rs says what it adds, and how it is called). This binary serves bubblewrap,
// runners and `cargo sandbox doctor` (`confine --landlock-abi`); the entry points carry the same
// code and run it without an exec when they build the sandbox themselves (entry/in_process.rs).
//
// Compiled on first use by the rustc that builds the project (no dependency but std), cached.

#![warn(clippy::undocumented_unsafe_blocks)]

// Shared with the entry points; the supervisor reads only variables.json with it.
#[allow(dead_code)]
#[path = "shared/json.rs"]
mod json;
// Shared with the entry points, which alone hand the descriptor on.
#[allow(dead_code)]
#[path = "shared/profile.rs"]
mod profile_stamps;
#[path = "confine/supervisor.rs"]
mod supervisor;
#[path = "shared/variables.rs"]
mod variables;

fn main() {
    // `confine --landlock-abi`: what this kernel offers (for `cargo sandbox doctor`).
    if std::env::args().nth(1).as_deref() == Some("--landlock-abi") {
        println!("{}", supervisor::landlock_abi().max(0));
        return;
    }
    supervisor::run(std::env::args_os().skip(1).collect())
}
