// What rust-analyzer's `procMacro.server` setting names: a static program, so that the editor
// needs neither Node on its PATH nor a shell. It starts cargo-sandbox's proc-macro relay
// (src/cli/proc-macro-server.ts) with the Node that compiled it, by absolute path.
//
// Compiled on first use by the rustc that builds the project (std only), with the package root and
// Node's path fixed at compile time (CARGO_SANDBOX_ROOT, CARGO_SANDBOX_NODE), linked as
// `cargo-sandbox-proc-macro-srv` in cargo-sandbox's cache (`cargo sandbox doctor` prints where).
// A new Node (another path) compiles another one, and the link follows it.

#![warn(clippy::undocumented_unsafe_blocks)]

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_SANDBOX_ROOT");
const NODE: &str = env!("CARGO_SANDBOX_NODE");

fn main() {
    let main_js = Path::new(ROOT).join("dist/src/cli/main.js");
    // rust-analyzer's arguments (`--format ...`) follow ours.
    let err = Command::new(NODE).arg(&main_js).arg("proc-macro-server").args(std::env::args_os().skip(1)).exec();
    eprintln!("error: cargo-sandbox: cannot start Node ({NODE}) for {}: {err}", main_js.display());
    eprintln!("help: run `cargo sandbox doctor` with the Node you use now: it builds this launcher again and prints its path");
    std::process::exit(101);
}
