// cargo-sandbox's RUSTC_WRAPPER. Cargo runs it as: wrapper [workspace-wrapper] rustc ARGS...
//
//  * `rustc -vV` runs on the host (it only prints the version), and we append a line, so cargo's
//    hash of the compiler differs from a plain build's: sandboxed artifacts live apart, and a build
//    script that plain `cargo build` left behind (unwrapped) is never reused by `cargo sandbox`.
//  * Every other call runs inside the sandbox (jail.rs): the crate's sources, the artifacts it
//    reads and the system read-only, its outputs into a private staging directory, moved into place
//    afterwards by name, only if regular files (a proc macro could plant a link there). The early
//    metadata (`.rmeta`) is linked into place when rustc announces it, before cargo hears of it, so cargo's
//    pipelining keeps working. With `sandbox.proc-macros = false` only calls that link with extra
//    linker arguments or name native libraries are sandboxed; the rest run as plain cargo runs them
//    (through the user's own rustc wrapper, if any).
//  * A build-script link: the real binary is kept beside the final name as NAME.real (NAME.wasm for
//    a script compiled for wasm), and a copy of this program takes the final name (the launcher).
//    Each step is a rename inside one directory, so an interrupted build never leaves an unwrapped
//    binary under the name cargo runs; cargo records the unit as fresh only after we exit.
//  * When some package's build scripts are compiled for another target (`rustc-wrapper-keep-args`),
//    each library's arguments are kept beside it (NAME.cargo-sandbox-args), from which its
//    build-dependencies are rebuilt for that target.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::build_script::{build_script_link, joined, status_code};
use crate::fix_filter::FixFilter;
use crate::jail::{self, Jail};
use crate::outputs::{announce_metadata, move_outputs};
use crate::policy::{package_policy, var, PackagePolicy};
use crate::session::Session;
use crate::{die, exec_on_host, host_command};

/// Bumped whenever the launcher or the way build scripts are compiled changes: cargo then
/// rebuilds every sandboxed build script. The launcher (a copy of this program) also reads the
/// session's files, so the version line carries their formats' too (records::versions).
const LAUNCHER_FORMAT: u32 = 7;

/// What the wrapper needs to know of one rustc call.
#[derive(Default)]
pub(crate) struct Call {
    pub(crate) crate_name: String,
    pub(crate) extra: String,
    out_dir: Option<PathBuf>,
    pub(crate) links_natively: bool,
    /// Some word is one rustc reads differently from what it says (`opaque_word`).
    pub(crate) opaque: bool,
    /// `--crate-type proc-macro`.
    proc_macro: bool,
    /// The libraries of `--extern NAME=PATH` (the proc macros among them run in this call).
    externs: Vec<PathBuf>,
    /// Where the artifacts this crate reads are (`-L dependency=DIR`, `--extern NAME=PATH`): the
    /// profile directory above a `deps` directory, else the file's own directory.
    artifact_dirs: Vec<PathBuf>,
    /// The `-L dependency=` directories (where rustc finds the dependencies of its dependencies).
    dependency_dirs: Vec<PathBuf>,
}

/// A word rustc reads differently from what it says: `@path` (a file of more arguments, read in
/// any position, an option's value included), or an option with a value grouped behind short
/// flags that take none (`-OLdir`, `-gC linker=x`, as rustc's getopts reads them; flags alone,
/// like cargo's `-vV`, say what they are). Cargo writes neither; a user's or a repository's flags may.
pub(crate) fn opaque_word(b: &[u8]) -> bool {
    const FLAGS: &[u8] = b"gOhvV";
    b.starts_with(b"@") || (b.len() > 2 && b[0] == b'-' && FLAGS.contains(&b[1]) && !b[1..].iter().all(|c| FLAGS.contains(c)))
}

fn scan(args: &[OsString]) -> Call {
    let mut c = Call::default();
    let mut prev: &[u8] = b"";
    for a in args {
        let b = a.as_bytes();
        // What such a word does cannot be read here: the call is sandboxed whatever the mode.
        c.opaque |= opaque_word(b);
        let text = || String::from_utf8_lossy(b).into_owned();
        match prev {
            b"--crate-name" => c.crate_name = text(),
            b"--extern" => note_extern(&mut c, b),
            b"--out-dir" => set_out_dir(&mut c, a),
            b"-C" => note_codegen(&mut c, b),
            b"-L" => note_search(&mut c, b),
            b"-l" => c.links_natively = true,
            b"--crate-type" => c.proc_macro |= b == b"proc-macro",
            _ => {}
        }
        if let Some(v) = b.strip_prefix(b"--crate-name=") {
            c.crate_name = String::from_utf8_lossy(v).into_owned();
        } else if let Some(v) = b.strip_prefix(b"--out-dir=") {
            set_out_dir(&mut c, OsStr::from_bytes(v));
        } else if let Some(v) = b.strip_prefix(b"-C").filter(|v| !v.is_empty()) {
            note_codegen(&mut c, v);
        } else if let Some(v) = b.strip_prefix(b"-L").filter(|v| !v.is_empty()) {
            note_search(&mut c, v);
        } else if b == b"--crate-type=proc-macro" {
            c.proc_macro = true;
        } else if b.starts_with(b"-l") && b.len() > 2 {
            c.links_natively = true;
        }
        prev = b;
    }
    c
}

/// Cargo gives one `--out-dir`; a second (rustflags' `--out-dir ~/...`) would have us make the
/// staging directory there, on the host, before rustc refuses it: the call stops here instead.
fn set_out_dir(c: &mut Call, dir: &OsStr) {
    if let Some(first) = &c.out_dir {
        die(&format!("rustc was given `--out-dir` twice (`{}`, then `{}`: from rustflags?); nothing was compiled", first.display(), Path::new(dir).display()));
    }
    c.out_dir = Some(PathBuf::from(dir));
}

/// `NAME=PATH`: usually in a `-L dependency=` directory; not so for a build script's dependencies
/// rebuilt for its wasm target, which may load the host's proc macros.
fn note_extern(c: &mut Call, v: &[u8]) {
    if let Some(eq) = v.iter().position(|&b| b == b'=') {
        c.externs.push(PathBuf::from(OsStr::from_bytes(&v[eq + 1..])));
        if let Some(dir) = Path::new(OsStr::from_bytes(&v[eq + 1..])).parent() {
            c.artifact_dirs.push(artifacts_above(dir));
        }
    }
}

/// <target>/<profile> for <target>/<profile>/deps (its OUT_DIRs come with it), else the directory.
fn artifacts_above(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(profile) if dir.file_name().is_some_and(|n| n == "deps") => profile.to_path_buf(),
        _ => dir.to_path_buf(),
    }
}

fn note_codegen(c: &mut Call, v: &[u8]) {
    if let Some(x) = v.strip_prefix(b"extra-filename=") {
        c.extra = String::from_utf8_lossy(x).into_owned();
    } else if v.starts_with(b"link-arg=") || v.starts_with(b"link-args=") {
        c.links_natively = true;
    }
}

fn note_search(c: &mut Call, v: &[u8]) {
    match v.strip_prefix(b"dependency=") {
        Some(dir) => {
            c.dependency_dirs.push(PathBuf::from(OsStr::from_bytes(dir)));
            c.artifact_dirs.push(artifacts_above(Path::new(OsStr::from_bytes(dir))));
        }
        None => c.links_natively = true,
    }
}

/// The name of our workspace-wrapper link (src/intercept/workspace-wrapper.ts).
pub(crate) const WORKSPACE_WRAPPER_NAME: &str = "cargo-sandbox-workspace-wrapper";

/// Cargo runs `[workspace wrapper] rustc ARGS` through us. Our own workspace-wrapper link in that
/// place (cargo ran RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER rustc), or being started under its name
/// (by cargo's fix proxy), stands for the workspace wrapper the session names, if any.
fn with_workspace_wrapper(s: &Session, mut args: Vec<OsString>, started_as_workspace_wrapper: bool) -> Vec<OsString> {
    let ours = args.first().is_some_and(|a| Path::new(a).file_name().is_some_and(|n| n == WORKSPACE_WRAPPER_NAME));
    if ours {
        args.remove(0);
    }
    if ours || started_as_workspace_wrapper {
        args.splice(0..0, s.workspace_wrapper.iter().cloned());
    }
    args
}

pub(crate) fn with_inner_wrapper(s: &Session, args: &[OsString]) -> Vec<OsString> {
    s.inner_wrapper.iter().cloned().chain(args.iter().cloned()).collect()
}

pub(crate) fn main(args: Vec<OsString>, keep_args: bool, started_as_workspace_wrapper: bool) -> ! {
    let s = crate::session::current();
    crate::profile::begin(&s, "compilation");
    let args = with_workspace_wrapper(&s, args, started_as_workspace_wrapper);
    if args.is_empty() {
        die("the rustc wrapper was started without a compiler");
    }
    if args.last().is_some_and(|a| a == "-vV") && args.len() <= 3 {
        if status_code(host_command(&with_inner_wrapper(&s, &args)).status()) != 0 {
            std::process::exit(101);
        }
        let keeps = if keep_args { " (keeps arguments)" } else { "" };
        println!("cargo-sandbox: build-script-launcher-v{LAUNCHER_FORMAT} ({}){keeps} for {}", crate::records::versions(), crate::identity::for_target_dir(&s));
        std::process::exit(0)
    }
    // Started by cargo's fix proxy, which applies the suggestions in rustc's output on the host:
    // only those for this package's own sources pass (fix_filter.rs).
    let fix = started_as_workspace_wrapper.then(|| {
        let package = var("CARGO_MANIFEST_DIR").unwrap_or_else(|| die("cargo's fix mode gave no CARGO_MANIFEST_DIR"));
        FixFilter::new(PathBuf::from(package), crate::policy::working_dir())
    });
    let call = scan(&args);
    let build_script = call.crate_name.starts_with("build_script_") && call.out_dir.as_ref().and_then(|o| o.parent()).and_then(|p| p.file_name()).is_some_and(|n| n == "build");
    if keep_args && !build_script {
        keep_arguments(&call, &args);
    }
    let sandboxed = call.links_natively || call.opaque || s.proc_macros;
    if !sandboxed && !build_script {
        exec_on_host(&with_inner_wrapper(&s, &args));
    }
    let out_dir = match &call.out_dir {
        // Cargo's is in its target or build dir; one from rustflags (cargo's probe of the target
        // has no other) would have the staging directory made elsewhere on the host.
        Some(o) if !crate::jail::BuildOutput::of(&s).holds(o) => {
            die(&format!("rustc was given `--out-dir {}`, outside cargo's target and build dirs (from rustflags?); nothing was compiled", o.display()))
        }
        Some(o) => o.clone(),
        // A call with nothing to write (cargo's probe of the target: `--print`), sandboxed too.
        None => std::process::exit(compile(&s, &call, &args, None, None, &package_policy(&s.dir), fix.as_ref())),
    };
    let stage = out_dir.join(if build_script { ".cargo-sandbox-stage".to_string() } else { format!(".cargo-sandbox-rustc-{}{}", call.crate_name, call.extra) });
    // Left by an interrupted call, or planted through a previous one: never followed.
    let _ = fs::remove_dir_all(&stage);
    fs::create_dir_all(&stage).unwrap_or_else(|e| die(&format!("cannot create {}: {e}", stage.display())));
    let pkg = package_policy(&s.dir);
    let code = if build_script {
        build_script_link(&s, &call, &args, &out_dir, &stage, &pkg, fix.as_ref())
    } else {
        let code = compile(&s, &call, &args, Some(&out_dir), Some(&stage), &pkg, fix.as_ref());
        if code == 0 {
            move_outputs(&format!("{}{}", call.crate_name, call.extra), &stage, &out_dir);
            if call.proc_macro {
                crate::macro_records::record_macro_package(&out_dir.join(format!("lib{}{}.so", call.crate_name, call.extra)));
            }
        }
        code
    };
    let _ = fs::remove_dir_all(&stage);
    crate::profile::end();
    std::process::exit(code)
}

/// rustc in the sandbox, writing into `stage` (and a private incremental directory).
pub(crate) fn compile(s: &Session, call: &Call, args: &[OsString], out_dir: Option<&Path>, stage: Option<&Path>, pkg: &PackagePolicy, fix: Option<&FixFilter>) -> i32 {
    let unit = format!("{}{}", call.crate_name, call.extra);
    let mut incremental = None;
    let mut program: Vec<OsString> = Vec::with_capacity(args.len());
    let mut prev: &[u8] = b"";
    for a in args {
        let b = a.as_bytes();
        let mut word = a.clone();
        if prev == b"--out-dir" {
            word = stage.map_or(word, |s| s.as_os_str().to_os_string());
        } else if b.starts_with(b"--out-dir=") {
            word = stage.map_or(word, |s| joined("--out-dir=", s));
        } else if let Some(dir) = (if prev == b"-C" { b.strip_prefix(b"incremental=") } else { None }).or_else(|| b.strip_prefix(b"-Cincremental=")) {
            let private = Path::new(OsStr::from_bytes(dir)).join(format!("cargo-sandbox-{unit}"));
            word = joined(if prev == b"-C" { "incremental=" } else { "-Cincremental=" }, &private);
            incremental = Some(private);
        }
        prev = b;
        program.push(word);
    }
    if let Some(dir) = &incremental {
        // Ours: a link in its place goes; then it and the two above (incremental/, the profile) must be real.
        if fs::symlink_metadata(dir).is_ok_and(|m| !m.is_dir()) {
            let _ = fs::remove_file(dir);
        }
        fs::create_dir_all(dir).unwrap_or_else(|e| die(&format!("cannot create {}: {e}", dir.display())));
        crate::jail::refuse_unsafe_write(dir, 3, &[call.dependency_dirs.clone(), out_dir.map(Path::to_path_buf).into_iter().collect()].concat());
    }
    // The package first (it may hold the target dir), then the artifacts: this profile's (OUT_DIRs
    // included) and those of every `-L dependency=` directory (the host's, when cross-compiling).
    let mut read: Vec<PathBuf> = var("CARGO_MANIFEST_DIR").map(PathBuf::from).into_iter().collect();
    if let Some(out) = out_dir {
        read.extend(profile_of(out, &call.crate_name));
    }
    let output = crate::jail::BuildOutput::of(s);
    for dir in &call.artifact_dirs {
        // (Every `--extern` of one profile names the same directory: checked once.) Checked before
        // anything seems to cover it: `PKG/../../home` starts with the package's directory too.
        if !read.contains(dir) && output.shows(dir) && !read.iter().any(|r| dir.starts_with(r)) {
            read.push(dir.clone());
        }
    }
    // The compiler cargo names (RUSTC, build.rustc; clippy-driver and the rustc behind it), which
    // may live outside the toolchain: the file itself, read-only.
    read.extend(args.iter().take(2).map(PathBuf::from).filter(|p| p.is_absolute() && p.is_file()));
    let jail = Jail {
        what: Path::new(&args[0]).file_name().unwrap_or_default().to_os_string(),
        read,
        stage: stage.map(Path::to_path_buf),
        write: incremental,
        keep: None,
        program,
        network: crate::network::compile_network(&call.externs, &call.dependency_dirs, s),
    };
    let checked = |line: &[u8]| fix.map_or_else(|| line.to_vec(), |f| f.line(line));
    match (out_dir, stage) {
        (Some(out), Some(stage)) => {
            let rmeta = format!("lib{unit}.rmeta");
            let mut early_metadata = |line: &[u8]| announce_metadata(&checked(line), stage, out, &rmeta);
            jail::run(s, &jail, pkg, Some(&mut early_metadata))
        }
        _ if fix.is_some() => jail::run(s, &jail, pkg, Some(&mut |line: &[u8]| checked(line))),
        _ => jail::run(s, &jail, pkg, None),
    }
}

/// <target>/<profile> of an output directory: `deps`, `examples`, or `build/<unit>` inside it.
fn profile_of(out: &Path, crate_name: &str) -> Option<PathBuf> {
    let up = if crate_name.starts_with("build_script_") { 2 } else { 1 };
    out.ancestors().nth(up).map(Path::to_path_buf)
}

/// Libraries' arguments, kept for rebuilding them for another target (see the header). Recorded:
/// the directory and the variables rustc reads (env!), then `--`, then the command.
fn keep_arguments(call: &Call, args: &[OsString]) {
    let out = match &call.out_dir {
        Some(o) if o.file_name().is_some_and(|n| n == "deps") && !(call.crate_name.is_empty() && call.extra.is_empty()) => o,
        _ => return,
    };
    const VARS: [&str; 14] = [
        "OUT_DIR",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_PKG_NAME",
        "CARGO_PKG_VERSION",
        "CARGO_PKG_VERSION_MAJOR",
        "CARGO_PKG_VERSION_MINOR",
        "CARGO_PKG_VERSION_PATCH",
        "CARGO_PKG_VERSION_PRE",
        "CARGO_PKG_AUTHORS",
        "CARGO_PKG_DESCRIPTION",
        "CARGO_CRATE_NAME",
        "CARGO_PKG_RUST_VERSION",
        "PWD",
    ];
    let mut record: Vec<u8> = Vec::new();
    for v in VARS {
        record.extend_from_slice(format!("{v}=").as_bytes());
        record.extend_from_slice(std::env::var_os(v).unwrap_or_default().as_bytes());
        record.push(0);
    }
    record.extend_from_slice(b"--\0");
    for a in args {
        record.extend_from_slice(a.as_bytes());
        record.push(0);
    }
    let _ = fs::write(out.join(format!("{}{}.cargo-sandbox-args", call.crate_name, call.extra)), record);
}

#[cfg(test)]
mod tests {
    use super::{opaque_word, scan};
    use std::ffi::OsString;

    #[test]
    fn argument_files_and_grouped_options_are_opaque() {
        for word in ["@args", "@/tmp/out/args", "-OLdependency=/x", "-gL", "-gC", "-OClinker=/evil", "-vVL/x"] {
            assert!(opaque_word(word.as_bytes()), "{word}");
        }
        // What cargo writes, and flags alone (cargo's own `-vV`).
        for word in ["-vV", "-gO", "-O", "-g", "-L", "-Ldependency=/x", "-Clinker=cc", "--cfg", "feature=\"a@b\"", "--extern", "-Zunstable-options"] {
            assert!(!opaque_word(word.as_bytes()), "{word}");
        }
        let words = |w: &[&str]| w.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(scan(&words(&["rustc", "--cfg", "@/tmp/out/args"])).opaque);
        assert!(scan(&words(&["rustc", "-gClinker=/evil"])).opaque);
        assert!(!scan(&words(&["rustc", "--crate-name", "a", "-Clinker=cc", "-g"])).opaque);
    }
}
