// A build script's link: compiled (in the sandbox, on the host with `proc-macros = false`, or
// for wasm by Node), then the real binary kept beside the final name (NAME.real, NAME.wasm) and a
// copy of this program, the launcher, put in its place.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use crate::fix_filter::FixFilter;
use crate::outputs::{move_outputs, move_regular};
use crate::policy::PackagePolicy;
use crate::rustc::{compile, with_inner_wrapper, Call};
use crate::session::{child_variables, Session};
use crate::{die, host_command};

/// A build script: compiled (sandboxed, on the host, or for wasm by Node), then swapped for the
/// launcher. Returns the exit code.
pub(crate) fn build_script_link(s: &Session, call: &Call, args: &[OsString], out: &Path, stage: &Path, pkg: &PackagePolicy, fix: Option<&FixFilter>) -> i32 {
    // Compiled on the host only with `proc-macros = false` and nothing linked natively, as rustc.rs decides.
    let sandboxed = call.links_natively || s.proc_macros;
    let me = std::env::current_exe().unwrap_or_else(|e| die(&format!("cannot find myself: {e}")));
    let code = if let Some(target) = &pkg.target {
        if fix.is_some() {
            // Node's compiler passes rustc's output on unchecked (fix_filter.rs).
            die("`cargo sandbox fix` cannot compile a build script for `sandbox.target`; build it once with `cargo sandbox build`, or fix without that setting");
        }
        let staged = rewrite_out_dir(args, stage);
        // Node (ours) compiles through this wrapper again: it is told the session and this program
        // explicitly, whatever this process inherited.
        let mut node = Command::new(&s.node);
        node.arg(s.js.join("intercept/wasm-compile.js")).arg(target).arg("--").args(&staged);
        node.env("__CARGO_SANDBOX_ENTRY", &me).envs(child_variables(s)).env_remove("NODE_OPTIONS");
        status_code(node.status())
    } else if sandboxed {
        // The build script uses proc macros (e.g. a derive): they expand inside the sandbox too.
        compile(s, call, args, Some(out), Some(stage), pkg, fix)
    } else {
        status_code(host_command(&with_inner_wrapper(s, &rewrite_out_dir(args, stage))).status())
    };
    if code != 0 {
        return code;
    }
    let bin = format!("{}{}", call.crate_name, call.extra);
    if !bin.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-') {
        die(&format!("unexpected build script name `{bin}`"));
    }
    // A build script compiled for wasm is a .wasm module, run by the launcher on a WASI runtime.
    let mut real = format!("{bin}.real");
    if move_regular(&stage.join(format!("{bin}.wasm")), &stage.join(&bin)) {
        real = format!("{bin}.wasm");
    }
    if !move_regular(&stage.join(&bin), &out.join(&real)) {
        die(&format!("rustc did not produce the build script `{}`", stage.join(&bin).display()));
    }
    install_launcher(&me, stage, &out.join(&bin));
    record_policy_dependencies(&stage.join(format!("{bin}.d")));
    // The other kind of build script (native or wasm) from before a target change is stale now.
    for stale in [format!("{bin}.real"), format!("{bin}.wasm")] {
        if stale != real {
            let _ = fs::remove_file(out.join(stale));
        }
    }
    move_outputs(&bin, stage, out);
    0
}

fn rewrite_out_dir(args: &[OsString], stage: &Path) -> Vec<OsString> {
    let mut prev: &[u8] = b"";
    args.iter()
        .map(|a| {
            let word = if prev == b"--out-dir" {
                stage.as_os_str().to_os_string()
            } else if a.as_bytes().starts_with(b"--out-dir=") {
                joined("--out-dir=", stage)
            } else {
                a.clone()
            };
            prev = a.as_bytes();
            word
        })
        .collect()
}

/// `--flag=` followed by a path.
pub(crate) fn joined(flag: &str, path: &Path) -> OsString {
    let mut word = OsString::from(flag);
    word.push(path);
    word
}

pub(crate) fn status_code(status: std::io::Result<std::process::ExitStatus>) -> i32 {
    match status {
        Ok(s) => s.code().unwrap_or(101),
        Err(e) => die(&format!("cannot start the compiler: {e}")),
    }
}

/// The launcher is a copy of this static program (a shell script would load what LD_LIBRARY_PATH
/// names before its first line). A copy, not a hard link: cargo judges freshness by the outputs'
/// mtimes. Staging was writable by the sandboxed rustc, which has exited: a `launcher` it
/// planted (a link to ~/.profile, say) is removed, and the copy is created new, never written through.
fn install_launcher(me: &Path, stage: &Path, dest: &Path) {
    let tmp = stage.join("launcher");
    let _ = fs::remove_file(&tmp);
    let bytes = fs::read(me).unwrap_or_else(|e| die(&format!("cannot read {}: {e}", me.display())));
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o755).open(&tmp).unwrap_or_else(|e| die(&format!("cannot create {}: {e}", tmp.display())));
    f.write_all(&bytes).unwrap_or_else(|e| die(&format!("cannot write {}: {e}", tmp.display())));
    drop(f);
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).unwrap_or_else(|e| die(&format!("cannot chmod {}: {e}", tmp.display())));
    fs::rename(&tmp, dest).unwrap_or_else(|e| die(&format!("cannot install the launcher {}: {e}", dest.display())));
}

/// Cargo reruns a build script when an env-dep recorded for its compilation changes: these carry
/// the fingerprint of the sandbox grants (global, and this package's), so a grant change reruns it.
fn record_policy_dependencies(dep_info: &Path) {
    if fs::symlink_metadata(dep_info).is_ok_and(|m| !m.file_type().is_file()) {
        die(&format!("unexpected file type of `{}`", dep_info.display()));
    }
    let package: String = std::env::var("CARGO_PKG_NAME").unwrap_or_default().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let mut lines = Vec::new();
    for name in ["__CARGO_SANDBOX_POLICY".to_string(), format!("__CARGO_SANDBOX_POLICY_{package}")] {
        match std::env::var_os(&name) {
            Some(v) => lines.extend_from_slice(&[format!("# env-dep:{name}=").into_bytes(), v.into_vec(), b"\n".to_vec()].concat()),
            None => lines.extend_from_slice(format!("# env-dep:{name}\n").as_bytes()),
        }
    }
    let mut f =
        fs::OpenOptions::new().append(true).create(true).custom_flags(O_NOFOLLOW).open(dep_info).unwrap_or_else(|e| die(&format!("cannot open {}: {e}", dep_info.display())));
    f.write_all(&lines).unwrap_or_else(|e| die(&format!("cannot write {}: {e}", dep_info.display())));
}

const O_NOFOLLOW: i32 = 0o400000;
