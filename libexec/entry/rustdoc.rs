// cargo-sandbox's rustdoc (cargo's RUSTDOC): rustdoc ARGS... Every call runs inside the sandbox
// (jail.rs), as a compilation does: documenting expands proc macros, doctests are compiled and
// linked with the package's `cargo:rustc-link-arg`s and then run. It sees the system, the
// toolchain, the sources and the profile's artifacts read-only; it writes only the documentation
// directory (-o, shared by every crate's rustdoc, all sandboxed, not swept) and a private /tmp.
// With `sandbox.proc-macros = false`, calls without linker arguments run the user's rustdoc
// directly, as plain cargo runs it.

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::jail::{self, Jail};
use crate::policy::{package_policy, var};
use crate::session::Session;
use crate::{die, exec_on_host};

/// Unless configured (RUSTDOC, build.rustdoc), the rustdoc beside the cargo that runs us, as cargo
/// itself would pick.
pub(crate) fn user_rustdoc(s: &Session) -> OsString {
    if let Some(r) = &s.rustdoc {
        return r.clone();
    }
    match var("CARGO").map(PathBuf::from).and_then(|c| c.parent().map(|d| d.join("rustdoc"))) {
        Some(beside) if beside.is_file() => beside.into_os_string(),
        _ => "rustdoc".into(),
    }
}

const RUNTOOL: [&[u8]; 4] = [b"--test-runtool", b"--test-runtool-arg", b"--runtool", b"--runtool-arg"];

pub(crate) fn main(args: Vec<OsString>) -> ! {
    let s = crate::session::current();
    crate::profile::begin(&s, "rustdoc");
    let rustdoc = user_rustdoc(&s);
    let (mut out, mut profiles, mut link_args) = (None::<PathBuf>, Vec::<PathBuf>::new(), false);
    let mut externs: Vec<PathBuf> = vec![];
    let mut dependency_dirs: Vec<PathBuf> = vec![];
    let mut kept: Vec<OsString> = vec![rustdoc];
    let mut skip_value = false;
    let mut prev: Vec<u8> = vec![];
    for a in args {
        let b = a.as_bytes().to_vec();
        // Doctests run inside this sandbox already: cargo's runner for them (--sandbox-run's) is
        // not visible in here, and not needed.
        if skip_value {
            skip_value = false;
            prev.clear();
            continue;
        }
        if RUNTOOL.contains(&&b[..]) {
            skip_value = true;
            continue;
        }
        if RUNTOOL.iter().any(|r| b.starts_with(&[*r, b"="].concat())) {
            continue;
        }
        let value = |flag: &[u8]| -> Option<Vec<u8>> {
            if prev == flag {
                Some(b.clone())
            } else {
                b.strip_prefix(&[flag, b"="].concat()[..]).map(|v| v.to_vec())
            }
        };
        if let Some(o) = value(b"-o").or_else(|| value(b"--out-dir")) {
            out = Some(PathBuf::from(std::ffi::OsStr::from_bytes(&o)));
        }
        if let Some(e) = value(b"--extern") {
            externs.extend(e.iter().position(|&c| c == b'=').map(|eq| PathBuf::from(std::ffi::OsStr::from_bytes(&e[eq + 1..]))));
        }
        let search = if prev == b"-L" { Some(b.clone()) } else { b.strip_prefix(b"-L").filter(|v| !v.is_empty()).map(|v| v.to_vec()) };
        if let Some(dir) = search.as_ref().and_then(|s| s.strip_prefix(b"dependency=")) {
            dependency_dirs.push(PathBuf::from(std::ffi::OsStr::from_bytes(dir)));
            profiles.extend(Path::new(std::ffi::OsStr::from_bytes(dir)).parent().map(Path::to_path_buf));
        }
        let codegen = if prev == b"-C" { Some(b.clone()) } else { b.strip_prefix(b"-C").filter(|v| !v.is_empty()).map(|v| v.to_vec()) };
        link_args |= codegen.is_some_and(|c| c.starts_with(b"link-arg=") || c.starts_with(b"link-args="));
        // An argument file or grouped short options: what they say cannot be read here (rustc.rs).
        link_args |= crate::rustc::opaque_word(&b);
        prev = b;
        kept.push(a);
    }
    if !link_args && !s.proc_macros {
        exec_on_host(&kept);
    }
    if profiles.is_empty() {
        die("rustdoc was given no `-L dependency=` directory; cannot sandbox it");
    }
    // Cargo writes .rustdoc_fingerprint.json at the top of the documentation directory, on the
    // host: a regular file of ours, mounted read-only over itself inside, so that no macro can swap
    // it for a link for cargo to write through next time.
    let keep = out.as_ref().map(|o| {
        fs::create_dir_all(o).unwrap_or_else(|e| die(&format!("cannot create {}: {e}", o.display())));
        // Written by the sandbox: the directory itself, not a link into `deps` a repository shipped.
        crate::jail::refuse_unsafe_write(o, 1, &dependency_dirs);
        let keep = o.join(".rustdoc_fingerprint.json");
        if !fs::symlink_metadata(&keep).is_ok_and(|m| m.file_type().is_file()) {
            let _ = fs::remove_file(&keep);
            fs::OpenOptions::new().write(true).create_new(true).open(&keep).unwrap_or_else(|e| die(&format!("cannot create {}: {e}", keep.display())));
        }
        keep
    });
    // The rustdoc itself (RUSTDOC, build.rustdoc) may live outside the toolchain: the file, read-only.
    let program = Some(PathBuf::from(&kept[0])).filter(|p| p.is_absolute() && p.is_file());
    // Only artifacts in cargo's own target or build dir (jail.rs): rustdocflags may name any directory.
    let output = crate::jail::BuildOutput::of(&s);
    let profiles = profiles.into_iter().filter(|p| output.shows(p));
    let read = var("CARGO_MANIFEST_DIR").map(PathBuf::from).into_iter().chain(profiles).chain(program).collect();
    let network = crate::network::compile_network(&externs, &dependency_dirs, &s);
    let jail = Jail { what: "rustdoc".into(), read, stage: None, write: out, keep, program: kept, network };
    let code = jail::run(&s, &jail, &package_policy(&s.dir), None);
    crate::profile::end();
    std::process::exit(code)
}
