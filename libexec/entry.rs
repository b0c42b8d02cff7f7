// cargo-sandbox's entry points, as cargo starts them: the rustc and rustdoc wrappers
// (RUSTC_WRAPPER, RUSTDOC: entry/rustc.rs, entry/rustdoc.rs), the runner of test binaries
// (entry/run.rs), and the launcher that takes each build script's place (entry/launch.rs). Each
// reads the session's policy as data (entry/policy.rs) and starts bubblewrap (entry/jail.rs for
// compilations); no shell is involved.
//
// A static program on purpose. Cargo starts these with LD_LIBRARY_PATH holding build scripts'
// OUT_DIRs (it adds their native search paths inside the target dir), so a dynamically linked
// entry point — /bin/sh, or bwrap after it — would load a library a build script planted there
// (a fake libcap.so.2 for bwrap) and run its code on the host. This program loads nothing: it
// removes the loader's variables first, keeps LD_LIBRARY_PATH's value in
// __CARGO_SANDBOX_LD_LIBRARY_PATH (handed to the sandboxed program inside bubblewrap), and never
// lets them reach a host program it starts.
//
// Compiled on first use by the rustc that builds the project (std only), once per entry point:
// CARGO_SANDBOX_ENTRY_MODE is fixed at compile time. Started under a build script's name
// (`build-script-*`, `build_script_*`), it is the launcher.

#![warn(clippy::undocumented_unsafe_blocks)]

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

// The crate root looks for modules beside it: they live in libexec/entry/.
#[path = "entry/binds.rs"]
mod binds;
#[path = "entry/build_script.rs"]
mod build_script;
#[path = "entry/descriptors.rs"]
mod descriptors;
// The supervisor's code, run in the sandbox without an exec when the entry point builds it
// (entry/in_process.rs); its own binary serves bubblewrap and `doctor`.
#[path = "confine/supervisor.rs"]
mod confine;
#[path = "shared/direct_sandbox.rs"]
mod direct_sandbox;
#[path = "entry/fix_filter.rs"]
mod fix_filter;
#[path = "entry/identity.rs"]
mod identity;
#[path = "entry/in_process.rs"]
mod in_process;
#[path = "entry/jail.rs"]
mod jail;
#[path = "entry/jobserver.rs"]
mod jobserver;
#[path = "shared/json.rs"]
mod json;
#[path = "entry/launch.rs"]
mod launch;
#[path = "entry/lifetime.rs"]
mod lifetime;
#[path = "entry/macro_records.rs"]
mod macro_records;
#[path = "entry/macro_server.rs"]
mod macro_server;
#[path = "entry/macro_set.rs"]
mod macro_set;
#[path = "entry/network.rs"]
mod network;
#[path = "entry/outputs.rs"]
mod outputs;
#[path = "entry/package_secrets.rs"]
mod package_secrets;
#[path = "entry/policy.rs"]
mod policy;
#[path = "entry/profile.rs"]
mod profile;
#[path = "shared/profile.rs"]
mod profile_stamps;
#[path = "entry/proxy.rs"]
mod proxy;
#[path = "shared/records.rs"]
mod records;
#[path = "entry/run.rs"]
mod run;
#[path = "entry/rustc.rs"]
mod rustc;
#[path = "entry/rustdoc.rs"]
mod rustdoc;
#[path = "entry/sealed.rs"]
mod sealed;
#[path = "entry/session.rs"]
mod session;
#[path = "entry/sha256.rs"]
mod sha256;
#[path = "entry/trace_cap.rs"]
mod trace_cap;
#[path = "shared/variables.rs"]
mod variables;

/// Which entry point this build is (rustc-wrapper, rustc-wrapper-keep-args, rustdoc-wrapper,
/// run-binary, proc-macro-server): fixed at compile time, one binary each.
const MODE: &str = env!("CARGO_SANDBOX_ENTRY_MODE");
/// Tests recognise a launcher by this text in its bytes.
const LAUNCHER_MARK: &str = "cargo-sandbox build-script launcher";
const SAVED_LIBRARY_PATH: &str = "__CARGO_SANDBOX_LD_LIBRARY_PATH";

/// `program` started on the host as plain cargo starts it: with cargo's library path back (the
/// entry point kept it aside), without our copy of it.
fn host_command(program: &[OsString]) -> Command {
    let mut cmd = Command::new(&program[0]);
    cmd.args(&program[1..]).env_remove(SAVED_LIBRARY_PATH);
    if let Some(path) = std::env::var_os(SAVED_LIBRARY_PATH) {
        cmd.env("LD_LIBRARY_PATH", path);
    }
    cmd
}

/// Becomes `program` on the host (see host_command).
fn exec_on_host(program: &[OsString]) -> ! {
    let err = host_command(program).exec();
    die(&format!("cannot run {}: {err}", program[0].to_string_lossy()))
}

fn die(msg: &str) -> ! {
    eprintln!("error: cargo-sandbox: {msg}");
    std::process::exit(101);
}

/// Variables that make a dynamically linked program load or run code of someone else's choosing.
fn loader_variable(name: &OsStr) -> bool {
    variables::listed("scrubbed-by-entry-points", name.as_bytes())
}

fn scrub_loader_environment() {
    let library_path = std::env::var_os("LD_LIBRARY_PATH");
    for (name, _) in std::env::vars_os() {
        if loader_variable(&name) || name == SAVED_LIBRARY_PATH {
            std::env::remove_var(&name);
        }
    }
    if let Some(value) = library_path {
        std::env::set_var(SAVED_LIBRARY_PATH, value);
    }
}

/// The build script this launcher stands for: its own name, or (started through cargo's link
/// `build-script-build`) the `build_script_*` file beside it that is the same file.
fn build_script_name(me: &Path) -> OsString {
    let name = me.file_name().unwrap_or_default();
    if name.as_bytes().starts_with(b"build_script_") {
        return name.to_os_string();
    }
    let dir = me.parent().unwrap_or_else(|| Path::new("."));
    let id = std::fs::metadata(me).map(|m| (m.dev(), m.ino())).unwrap_or_else(|e| die(&format!("cannot read {}: {e}", me.display())));
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .find(|n| {
            let b = n.as_bytes();
            b.starts_with(b"build_script_") && !b.contains(&b'.') && std::fs::metadata(dir.join(n)).is_ok_and(|m| (m.dev(), m.ino()) == id)
        })
        .unwrap_or_else(|| die(&format!("{LAUNCHER_MARK}: no build script beside {}; run `cargo clean` and build again", me.display())))
}

fn main() {
    profile::start();
    let mut args = std::env::args_os();
    let argv0 = PathBuf::from(args.next().unwrap_or_default());
    let rest: Vec<OsString> = args.collect();
    // The filtering proxy (network.rs starts it with an empty environment).
    if argv0.as_os_str() == proxy::PROXY_NAME {
        proxy::main(rest);
    }
    // cargo, for cargo-sandbox's Node side (which cannot set a child's parent-death signal):
    // killed with it, even by SIGKILL, so that the chain of parent-death signals below holds.
    if argv0.as_os_str() == lifetime::CARGO_NAME {
        lifetime::exec_dying_with_parent(&rest);
    }
    if argv0.as_os_str() == lifetime::PARENT_NAME {
        lifetime::run_as_parent(&rest);
    }
    scrub_loader_environment();
    let launcher = argv0.file_name().is_some_and(|n| n.as_bytes().starts_with(b"build-script-") || n.as_bytes().starts_with(b"build_script_"));
    if launcher {
        let me = if argv0.is_absolute() { argv0.clone() } else { std::env::current_exe().unwrap_or_else(|e| die(&format!("cannot find myself: {e}"))) };
        let bin = build_script_name(&me);
        let dir = me.parent().unwrap_or_else(|| Path::new("."));
        let wasm = dir.join(format!("{}.wasm", bin.to_string_lossy()));
        let real = if wasm.is_file() { wasm } else { dir.join(format!("{}.real", bin.to_string_lossy())) };
        launch::main(&me, real, rest);
    }
    // Cargo's RUSTC_WORKSPACE_WRAPPER (a link to this program, src/intercept/workspace-wrapper.ts):
    // the only way cargo's fix mode reaches the compiler.
    let workspace = argv0.file_name().is_some_and(|n| n == rustc::WORKSPACE_WRAPPER_NAME);
    match MODE {
        "rustc-wrapper" => rustc::main(rest, false, workspace),
        "rustc-wrapper-keep-args" => rustc::main(rest, true, workspace),
        "rustdoc-wrapper" => rustdoc::main(rest),
        "run-binary" => run::main(rest),
        "proc-macro-server" => macro_server::main(rest),
        _ => die(&format!("unknown entry point `{MODE}`")),
    }
}
