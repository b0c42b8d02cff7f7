// Which session this process serves, and what the session says: found from nothing that a package,
// a build script's directives, a repository's cargo config or a target dir can set.
//
// Cargo hands later processes variables that packages and repositories choose (`rustc-env`,
// `[env]`, `[target.<triple>.<links>]` overrides, a shipped `output` file it replays), so our own
// environment is no place to learn where bubblewrap is or which policy applies. Instead:
//  * the session directory and this run's records directory are read from the environment our
//    parent *was started with* (/proc/PPID/environ): cargo's, as cargo-sandbox (Node or the
//    compiled front end) set it. What cargo adds for the processes it starts never reaches its own
//    start-up environment. Every entry point is started by cargo itself (build scripts, RUSTC_WRAPPER,
//    RUSTDOC, the target runner), or by one of ours that sets both variables for its child
//    (the wasm build-script compiler, see build_script.rs);
//  * everything else (bubblewrap, the supervisor, Node, the audit's strace, ...) comes from the
//    session's `session.data`, written by cargo-sandbox (src/intercept/session.ts) in a directory
//    only the user can write and no sandbox can.
// The directory must be a real directory owned by us that no one else can write; `session.data`
// must be in its format (libexec/schema/records.json: its version, only keys we know, each value of
// its kind), or the process stops.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::die;
use crate::policy::read_record;

/// The variables cargo-sandbox sets in cargo's own environment for its entry points.
pub(crate) const SESSION_VARIABLE: &str = "__CARGO_SANDBOX_SESSION";
pub(crate) const RUNS_VARIABLE: &str = "__CARGO_SANDBOX_RUNS";

extern "C" {
    fn getppid() -> i32;
    fn geteuid() -> u32;
}

/// What one build's session says (session.data), and where its records go.
pub(crate) struct Session {
    pub dir: PathBuf,
    /// This run's records (one directory per cargo-sandbox run, inside the session's `runs`).
    pub runs: PathBuf,
    /// What builds each sandbox: our direct builder (direct-sandbox.rs) or bubblewrap; both take
    /// bubblewrap's options.
    pub builder: OsString,
    /// `builder` is our direct builder, whose code this program carries (in_process.rs): the
    /// sandbox is built here instead of by exec'ing it.
    pub builder_in_process: bool,
    /// cargo-sandbox's own trees (the session, its caches, its installation, the PATH
    /// directories holding its command), resolved: read-only wherever a write grant shows them.
    pub own_trees: Vec<PathBuf>,
    /// The supervisor (libexec/confine.rs).
    pub confine: OsString,
    /// Node and cargo-sandbox's JavaScript, for build scripts compiled for wasm.
    pub node: OsString,
    pub js: PathBuf,
    /// Whether compilations that load proc macros run in the sandbox (sandbox.proc-macros).
    pub proc_macros: bool,
    pub workspace: Option<PathBuf>,
    /// The user's own rustc wrapper, chained inside ours.
    pub inner_wrapper: Option<OsString>,
    /// The workspace wrapper that runs inside ours (the user's, or clippy-driver for `clippy --fix`).
    pub workspace_wrapper: Option<OsString>,
    /// The user's rustdoc (RUSTDOC, build.rustdoc), which ours runs.
    pub rustdoc: Option<OsString>,
    /// `cargo sandbox audit`: the strace that observes each sandbox from outside.
    pub audit: Option<OsString>,
    /// The cap of each trace, in bytes (`cargo sandbox audit --trace-limit`, trace_cap.rs).
    pub audit_trace_limit: Option<u64>,
    /// Writable for test binaries (`<target>/tmp`).
    pub target_tmpdir: Option<PathBuf>,
    /// The user's secret that sets this user's sandboxed artifacts apart (identity.rs).
    pub identity_file: PathBuf,
    /// Cargo's target dir for this build.
    pub target_dir: PathBuf,
    /// Cargo's build dir (`build.build-dir`), when apart from the target dir.
    pub build_dir: Option<PathBuf>,
    /// `CARGO_SANDBOX_PROFILE=1`: each sandboxed process records its stages (profile.rs).
    pub profile: bool,
}

/// The session of the cargo that started us; stops the process when there is none.
pub(crate) fn current() -> Session {
    let started_with = parent_start_environment();
    let dir = started_with(SESSION_VARIABLE).map(PathBuf::from).unwrap_or_else(|| die("the sandbox session is missing; run the build through `cargo sandbox`"));
    owned_directory(&dir);
    let runs = started_with(RUNS_VARIABLE).map(PathBuf::from).unwrap_or_else(|| die("the sandbox session names no records directory; run the build through `cargo sandbox`"));
    if runs.parent() != Some(&dir.join("runs")) {
        die(&format!("the records directory {} is not the session's", runs.display()));
    }
    std::fs::create_dir_all(&runs).unwrap_or_else(|e| die(&format!("cannot create {}: {e}", runs.display())));
    owned_directory(&runs);
    read(dir, runs)
}

/// The variables our parent process was started with (see the header): a lookup by name.
fn parent_start_environment() -> impl Fn(&str) -> Option<OsString> {
    // SAFETY: getppid takes no arguments and cannot fail.
    let parent = unsafe { getppid() };
    let file = format!("/proc/{parent}/environ");
    let mut data = Vec::new();
    let read = std::fs::File::open(&file).and_then(|f| f.take(4 << 20).read_to_end(&mut data));
    read.unwrap_or_else(|e| die(&format!("cannot read {file}: {e}")));
    move |name: &str| {
        let prefix = [name.as_bytes(), b"="].concat();
        data.split(|&c| c == 0).find_map(|e| e.strip_prefix(&prefix[..])).filter(|v| !v.is_empty()).map(|v| OsStr::from_bytes(v).to_os_string())
    }
}

/// Whether a file of ours is owned by this user and has none of the permission bits `others`
/// (0o022: nobody else writes it; 0o077: nobody else reads it either).
pub(crate) fn ours(m: &std::fs::Metadata, others: u32) -> bool {
    // SAFETY: geteuid takes no arguments and cannot fail.
    m.uid() == unsafe { geteuid() } && m.mode() & others == 0
}

/// A real directory (not a link), owned by us, that nobody else can write.
fn owned_directory(dir: &Path) {
    let ok = dir.is_absolute() && std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && ours(&m, 0o022));
    if !ok {
        die(&format!("the sandbox session {} is not a private directory of this user; run the build through `cargo sandbox`", dir.display()));
    }
}

fn read(dir: PathBuf, runs: PathBuf) -> Session {
    let file = dir.join("session.data");
    if !std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file() && ours(&m, 0o022)) {
        die(&format!("the sandbox session's {} is missing or not ours; run the build through `cargo sandbox`", file.display()));
    }
    let r = read_record("session", &file);
    let path = |key: &str| r.one(key).map(PathBuf::from);
    let owned = |key: &str| r.one(key).map(OsStr::to_os_string);
    // The required keys are there, and every path is absolute (records.json says which).
    let required = |key: &str| owned(key).unwrap_or_default();
    Session {
        dir,
        runs,
        builder: required("sandbox-builder"),
        builder_in_process: r.flag("builder-in-process") == Some(true),
        own_trees: r.all("own-tree").into_iter().map(PathBuf::from).collect(),
        confine: required("confine"),
        node: required("node"),
        js: required("js").into(),
        proc_macros: r.flag("proc-macros") != Some(false),
        workspace: path("workspace"),
        inner_wrapper: owned("inner-wrapper"),
        workspace_wrapper: owned("workspace-wrapper"),
        rustdoc: owned("rustdoc"),
        audit: owned("audit"),
        audit_trace_limit: r.number("audit-trace-limit"),
        target_tmpdir: path("target-tmpdir"),
        identity_file: required("identity-file").into(),
        target_dir: required("target-dir").into(),
        build_dir: path("build-dir"),
        profile: r.flag("profile") == Some(true),
    }
}
/// The value cargo's start-up environment must carry for a child of ours (build_script.rs starts
/// Node, which starts the rustc wrapper again): the same session and records.
pub(crate) fn child_variables(s: &Session) -> [(&'static str, OsString); 2] {
    [(SESSION_VARIABLE, s.dir.clone().into_os_string()), (RUNS_VARIABLE, s.runs.clone().into_os_string())]
}
