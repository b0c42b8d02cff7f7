// What rust-analyzer's `procMacro.server` setting names: a static program, so that the editor
// needs neither Node on its PATH nor a shell. It starts cargo-sandbox's proc-macro relay
// (src/cli/proc-macro-server.ts) with the Node that compiled it, by absolute path.
//
// Compiled on first use by the rustc that builds the project (std only), or copied from the
// package's prebuilt one, with the package root and Node's path fixed (CARGO_SANDBOX_ROOT,
// CARGO_SANDBOX_NODE; shared/fixed_path.rs), linked as
// `cargo-sandbox-proc-macro-srv` in cargo-sandbox's cache (`cargo sandbox doctor` prints where).
// A new Node (another path) compiles another one, and the link follows it.

#![warn(clippy::undocumented_unsafe_blocks)]

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

// The package root and Node's path: compiled in, or written into the package's prebuilt copy when
// it is copied into the cache.
#[path = "shared/fixed_path.rs"]
mod fixed_path;
fn package_root() -> &'static str {
    fixed_path::fixed(env!("CARGO_SANDBOX_ROOT"))
}
fn node_path() -> &'static str {
    fixed_path::fixed(env!("CARGO_SANDBOX_NODE"))
}

fn main() {
    let main_js = Path::new(package_root()).join("dist/src/cli/main.js");
    // rust-analyzer's arguments (`--format ...`) follow ours.
    let err = Command::new(node_path()).arg(&main_js).arg("proc-macro-server").args(std::env::args_os().skip(1)).exec();
    eprintln!("error: cargo-sandbox: cannot start Node ({}) for {}: {err}", node_path(), main_js.display());
    eprintln!("help: run `cargo sandbox doctor` with the Node you use now: it builds this launcher again and prints its path");
    std::process::exit(101);
}
