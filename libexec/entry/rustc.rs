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
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::jail::{self, Jail};
use crate::policy::{package_policy, session_dir, var};
use crate::{die, SAVED_LIBRARY_PATH};

/// Bumped whenever the launcher or the way build scripts are compiled changes: cargo then
/// rebuilds every sandboxed build script.
const LAUNCHER_FORMAT: u32 = 7;

/// What the wrapper needs to know of one rustc call.
#[derive(Default)]
struct Call {
    crate_name: String,
    extra: String,
    out_dir: Option<PathBuf>,
    links_natively: bool,
    /// `-L dependency=DIR`: the artifact directories this crate reads.
    dependency_dirs: Vec<PathBuf>,
}

fn scan(args: &[OsString]) -> Call {
    let mut c = Call::default();
    let mut prev: &[u8] = b"";
    for a in args {
        let b = a.as_bytes();
        let text = || String::from_utf8_lossy(b).into_owned();
        match prev {
            b"--crate-name" => c.crate_name = text(),
            b"--out-dir" => c.out_dir = Some(PathBuf::from(a)),
            b"-C" => note_codegen(&mut c, b),
            b"-L" => note_search(&mut c, b),
            b"-l" => c.links_natively = true,
            _ => {}
        }
        if let Some(v) = b.strip_prefix(b"--crate-name=") {
            c.crate_name = String::from_utf8_lossy(v).into_owned();
        } else if let Some(v) = b.strip_prefix(b"--out-dir=") {
            c.out_dir = Some(PathBuf::from(OsStr::from_bytes(v)));
        } else if let Some(v) = b.strip_prefix(b"-C").filter(|v| !v.is_empty()) {
            note_codegen(&mut c, v);
        } else if let Some(v) = b.strip_prefix(b"-L").filter(|v| !v.is_empty()) {
            note_search(&mut c, v);
        } else if b.starts_with(b"-l") && b.len() > 2 {
            c.links_natively = true;
        }
        prev = b;
    }
    c
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
        Some(dir) => c.dependency_dirs.push(PathBuf::from(OsStr::from_bytes(dir))),
        None => c.links_natively = true,
    }
}

/// Runs `program` on the host as plain cargo would: with cargo's library path back.
fn exec_on_host(program: &[OsString]) -> ! {
    if let Some(path) = std::env::var_os(SAVED_LIBRARY_PATH) {
        std::env::set_var("LD_LIBRARY_PATH", path);
        std::env::remove_var(SAVED_LIBRARY_PATH);
    }
    let err = Command::new(&program[0]).args(&program[1..]).exec();
    die(&format!("cannot run {}: {err}", program[0].to_string_lossy()))
}

fn with_inner_wrapper(args: &[OsString]) -> Vec<OsString> {
    var("__CARGO_SANDBOX_INNER_WRAPPER").into_iter().chain(args.iter().cloned()).collect()
}

pub(crate) fn main(args: Vec<OsString>, keep_args: bool) -> ! {
    if args.is_empty() {
        die("the rustc wrapper was started without a compiler");
    }
    if args.last().map_or(false, |a| a == "-vV") && args.len() <= 3 {
        let program = with_inner_wrapper(&args);
        let library_path = std::env::var_os(SAVED_LIBRARY_PATH).unwrap_or_default();
        if status_code(Command::new(&program[0]).args(&program[1..]).env("LD_LIBRARY_PATH", library_path).status()) != 0 {
            std::process::exit(101);
        }
        println!("cargo-sandbox: build-script-launcher-v{LAUNCHER_FORMAT}{}", if keep_args { " (keeps arguments)" } else { "" });
        std::process::exit(0)
    }
    let call = scan(&args);
    let build_script = call.crate_name.starts_with("build_script_")
        && call.out_dir.as_ref().and_then(|o| o.parent()).and_then(|p| p.file_name()).map_or(false, |n| n == "build");
    if keep_args && !build_script {
        keep_arguments(&call, &args);
    }
    let sandboxed = call.links_natively || std::env::var_os("__CARGO_SANDBOX_PROC_MACROS").map_or(true, |v| v != "0");
    if !sandboxed && !build_script {
        exec_on_host(&with_inner_wrapper(&args));
    }
    let out_dir = match &call.out_dir {
        Some(o) => o.clone(),
        // A call with nothing to write (cargo's probe of the target: `--print`), sandboxed too.
        None => std::process::exit(compile(&call, &args, None, None)),
    };
    let stage = out_dir.join(if build_script { ".cargo-sandbox-stage".to_string() } else { format!(".cargo-sandbox-rustc-{}{}", call.crate_name, call.extra) });
    // Left by an interrupted call, or planted through a previous one: never followed.
    let _ = fs::remove_dir_all(&stage);
    fs::create_dir_all(&stage).unwrap_or_else(|e| die(&format!("cannot create {}: {e}", stage.display())));
    let code = if build_script {
        build_script_link(&call, &args, &out_dir, &stage, sandboxed)
    } else {
        let code = compile(&call, &args, Some(&out_dir), Some(&stage));
        if code == 0 {
            move_outputs(&call, &stage, &out_dir);
        }
        code
    };
    let _ = fs::remove_dir_all(&stage);
    std::process::exit(code)
}

/// rustc in the sandbox, writing into `stage` (and a private incremental directory).
fn compile(call: &Call, args: &[OsString], out_dir: Option<&Path>, stage: Option<&Path>) -> i32 {
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
        fs::create_dir_all(dir).unwrap_or_else(|e| die(&format!("cannot create {}: {e}", dir.display())));
    }
    // The package first (it may hold the target dir), then the artifacts: this profile's (OUT_DIRs
    // included) and those of every `-L dependency=` directory (the host's, when cross-compiling).
    let mut read: Vec<PathBuf> = var("CARGO_MANIFEST_DIR").map(PathBuf::from).into_iter().collect();
    if let Some(out) = out_dir {
        read.extend(profile_of(out, &call.crate_name));
    }
    read.extend(call.dependency_dirs.iter().filter_map(|d| d.parent().map(Path::to_path_buf)));
    let jail = Jail {
        what: Path::new(&args[0]).file_name().unwrap_or_default().to_os_string(),
        read,
        stage: stage.map(Path::to_path_buf),
        write: incremental,
        keep: None,
        program,
    };
    let pkg = package_policy(&session_dir());
    match (out_dir, stage) {
        (Some(out), Some(stage)) => {
            let rmeta = format!("lib{unit}.rmeta");
            let mut early_metadata = |line: &[u8]| announce_metadata(line, stage, out, &rmeta);
            jail::run(&jail, &pkg, Some(&mut early_metadata))
        }
        _ => jail::run(&jail, &pkg, None),
    }
}

/// <target>/<profile> of an output directory: `deps`, `examples`, or `build/<unit>` inside it.
fn profile_of(out: &Path, crate_name: &str) -> Option<PathBuf> {
    let up = if crate_name.starts_with("build_script_") { 2 } else { 1 };
    out.ancestors().nth(up).map(Path::to_path_buf)
}

/// rustc's `{"$message_type":"artifact","artifact":"STAGE/libNAME.rmeta","emit":"metadata"}`: the
/// metadata is put in place first, then cargo is told (with the final path) and may start the
/// crates that use it. Cargo acts on any artifact path ending in `.rmeta`: one we could not move
/// is not passed on (cargo then waits for rustc to exit, when every output is moved).
fn announce_metadata(line: &[u8], stage: &Path, out: &Path, rmeta: &str) -> Vec<u8> {
    const KEY: &[u8] = b"\"artifact\":";
    let at = match line.windows(KEY.len()).position(|w| w == KEY) {
        Some(i) if line.starts_with(b"{") => i + KEY.len(),
        _ => return line.to_vec(),
    };
    let (path, len) = match json_string_at(&line[at..]) {
        Some(p) => p,
        None => return Vec::new(),
    };
    if !path.ends_with(b".rmeta") {
        return line.to_vec();
    }
    let staged = stage.join(rmeta);
    if path != staged.as_os_str().as_bytes() || !link_regular(&staged, &out.join(rmeta)) {
        return Vec::new();
    }
    [&line[..at], &json_string(out.join(rmeta).as_os_str().as_bytes()), &line[at + len..]].concat()
}

/// The JSON string at the start of `s`: its bytes and how long it was as written.
fn json_string_at(s: &[u8]) -> Option<(Vec<u8>, usize)> {
    if s.first() != Some(&b'"') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'"' => return Some((out, i + 1)),
            b'\\' => {
                let c = *s.get(i + 1)?;
                match c {
                    b'"' | b'\\' | b'/' => out.push(c),
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'u' => {
                        let hex = std::str::from_utf8(s.get(i + 2..i + 6)?).ok()?;
                        let ch = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                        out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                        i += 4;
                    }
                    _ => return None,
                }
                i += 2;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    None
}

/// A path as serde_json (rustc) writes it.
fn json_string(s: &[u8]) -> Vec<u8> {
    let mut out = vec![b'"'];
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            _ => out.push(c),
        }
    }
    out.push(b'"');
    out
}

/// Renames `from` to `to` if it is a regular file (not a link, a FIFO, a directory), never
/// following a link at either end.
fn move_regular(from: &Path, to: &Path) -> bool {
    match fs::symlink_metadata(from) {
        Ok(m) if m.file_type().is_file() => fs::rename(from, to).unwrap_or_else(|e| die(&format!("cannot move {} into place: {e}", from.display()))) == (),
        _ => false,
    }
}

/// Gives `from` a second name `to` (rustc reads the metadata back later, from staging; it is
/// moved over its own link at the end), if it is a regular file with no other name: made in
/// staging, not linked there from anywhere else.
fn link_regular(from: &Path, to: &Path) -> bool {
    match fs::symlink_metadata(from) {
        Ok(m) if m.file_type().is_file() && m.nlink() == 1 => {
            let _ = fs::remove_file(to);
            fs::hard_link(from, to).is_ok()
        }
        _ => false,
    }
}

/// The outputs cargo expects of this unit (libNAME.*, NAME, NAME.*), moved into place.
fn move_outputs(call: &Call, stage: &Path, out: &Path) {
    let unit = format!("{}{}", call.crate_name, call.extra);
    let lib = format!("lib{unit}.");
    let dotted = format!("{unit}.");
    for entry in fs::read_dir(stage).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let n = name.to_string_lossy();
        if n.starts_with(&lib) || n == unit || n.starts_with(&dotted) {
            move_regular(&entry.path(), &out.join(&name));
        }
    }
}

/// Libraries' arguments, kept for rebuilding them for another target (see the header). Recorded:
/// the directory and the variables rustc reads (env!), then `--`, then the command.
fn keep_arguments(call: &Call, args: &[OsString]) {
    let out = match &call.out_dir {
        Some(o) if o.file_name().map_or(false, |n| n == "deps") && !(call.crate_name.is_empty() && call.extra.is_empty()) => o,
        _ => return,
    };
    const VARS: [&str; 14] = [
        "OUT_DIR", "CARGO_MANIFEST_DIR", "CARGO_MANIFEST_PATH", "CARGO_PKG_NAME", "CARGO_PKG_VERSION", "CARGO_PKG_VERSION_MAJOR",
        "CARGO_PKG_VERSION_MINOR", "CARGO_PKG_VERSION_PATCH", "CARGO_PKG_VERSION_PRE", "CARGO_PKG_AUTHORS", "CARGO_PKG_DESCRIPTION",
        "CARGO_CRATE_NAME", "CARGO_PKG_RUST_VERSION", "PWD",
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

/// A build script: compiled (sandboxed, on the host, or for wasm by Node), then swapped for the
/// launcher. Returns the exit code.
fn build_script_link(call: &Call, args: &[OsString], out: &Path, stage: &Path, sandboxed: bool) -> i32 {
    let pkg = package_policy(&session_dir());
    let code = if let Some(target) = &pkg.target {
        let node = var("__CARGO_SANDBOX_NODE").unwrap_or_else(|| "node".into());
        let js = Path::new(&var("__CARGO_SANDBOX_JS").unwrap_or_else(|| die("__CARGO_SANDBOX_JS is not set"))).join("intercept/wasm-compile.js");
        let staged = rewrite_out_dir(args, stage);
        status_code(Command::new(node).arg(js).arg(target).arg("--").args(&staged).status())
    } else if sandboxed {
        // The build script uses proc macros (e.g. a derive): they expand inside the sandbox too.
        compile(call, args, Some(out), Some(stage))
    } else {
        let staged = with_inner_wrapper(&rewrite_out_dir(args, stage));
        let library_path = std::env::var_os(SAVED_LIBRARY_PATH).unwrap_or_default();
        status_code(Command::new(&staged[0]).args(&staged[1..]).env("LD_LIBRARY_PATH", library_path).status())
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
    install_launcher(stage, &out.join(&bin));
    record_policy_dependencies(&stage.join(format!("{bin}.d")));
    // The other kind of build script (native or wasm) from before a target change is stale now.
    for stale in [format!("{bin}.real"), format!("{bin}.wasm")] {
        if stale != real {
            let _ = fs::remove_file(out.join(stale));
        }
    }
    for entry in fs::read_dir(stage).into_iter().flatten().flatten() {
        move_regular(&entry.path(), &out.join(entry.file_name()));
    }
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
fn joined(flag: &str, path: &Path) -> OsString {
    let mut word = OsString::from(flag);
    word.push(path);
    word
}

fn status_code(status: std::io::Result<std::process::ExitStatus>) -> i32 {
    match status {
        Ok(s) => s.code().unwrap_or(101),
        Err(e) => die(&format!("cannot start the compiler: {e}")),
    }
}

/// The launcher is a copy of this static program (a shell script would load what LD_LIBRARY_PATH
/// names before its first line). A copy, not a hard link: cargo judges freshness by the outputs'
/// mtimes. Staging was writable by the sandboxed rustc, which has exited: a `launcher` it
/// planted (a link to ~/.profile, say) is removed, and the copy is created new, never written through.
fn install_launcher(stage: &Path, dest: &Path) {
    let me = var("__CARGO_SANDBOX_ENTRY").unwrap_or_else(|| die("__CARGO_SANDBOX_ENTRY is not set"));
    let tmp = stage.join("launcher");
    let _ = fs::remove_file(&tmp);
    let bytes = fs::read(&me).unwrap_or_else(|e| die(&format!("cannot read {}: {e}", Path::new(&me).display())));
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o755).open(&tmp).unwrap_or_else(|e| die(&format!("cannot create {}: {e}", tmp.display())));
    f.write_all(&bytes).unwrap_or_else(|e| die(&format!("cannot write {}: {e}", tmp.display())));
    drop(f);
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).unwrap_or_else(|e| die(&format!("cannot chmod {}: {e}", tmp.display())));
    fs::rename(&tmp, dest).unwrap_or_else(|e| die(&format!("cannot install the launcher {}: {e}", dest.display())));
}

/// Cargo reruns a build script when an env-dep recorded for its compilation changes: these carry
/// the fingerprint of the sandbox grants (global, and this package's), so a grant change reruns it.
fn record_policy_dependencies(dep_info: &Path) {
    if fs::symlink_metadata(dep_info).map_or(false, |m| !m.file_type().is_file()) {
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
    let mut f = fs::OpenOptions::new().append(true).create(true).custom_flags(O_NOFOLLOW).open(dep_info).unwrap_or_else(|e| die(&format!("cannot open {}: {e}", dep_info.display())));
    f.write_all(&lines).unwrap_or_else(|e| die(&format!("cannot write {}: {e}", dep_info.display())));
}

const O_NOFOLLOW: i32 = 0o400000;
