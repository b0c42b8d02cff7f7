// The build-script launcher: a copy of this program takes each build script's place (rustc.rs),
// and runs the real script (NAME.real, or NAME.wasm on Node's WASI) inside bubblewrap and the
// supervisor, with its package's grants (policy.rs). Cargo has set the build-script environment
// (OUT_DIR, CARGO_MANIFEST_DIR, ...); the session (session.rs) says where bubblewrap, the
// supervisor and the policy of this build are. It starts one process: bwrap (or the custom runner, or
// strace around bwrap for `cargo sandbox audit`), by exec, so cargo waits for the script itself.
//
// Each run is recorded in the session's runs directory, named by this process's PID, so that
// cargo-sandbox can explain a failure after cargo's error: PID (package, version, OUT_DIR,
// package dir, launcher, policy file, cgroup, forks refused so far, NUL-separated), PID.env (the
// environment the script saw, NAME=VALUE NUL-separated), PID.status (bwrap's JSON status: how the
// script ended), PID.report (the supervisor's findings), PID.trace (audit only).

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::descriptors::inherit_fds;
use crate::jail::{push, sandbox_programs, session_args};
use crate::jobserver::Jobserver;
use crate::network::ProxiedNetwork;
use crate::policy::{expand, package_policy, var, working_dir, EnvFilter, PackagePolicy};
use crate::records;
use crate::session::Session;
use crate::{die, exec_on_host, SAVED_LIBRARY_PATH};

extern "C" {
    fn setrlimit(resource: i32, rlim: *const [u64; 2]) -> i32;
}
pub(crate) const RLIMIT_FSIZE: i32 = 1;
pub(crate) const RLIMIT_AS: i32 = 9;

/// In the child: the package's max-file-size and max-memory, inherited by everything it starts.
pub(crate) fn set_limits(cmd: &mut Command, limits: [(i32, Option<u64>); 2]) {
    // SAFETY: the closure runs in the child between fork and exec and only calls setrlimit (apply_limits) with a live array, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || apply_limits(limits));
    }
}

/// The limits on this process (and what it starts). Allocates nothing.
pub(crate) fn apply_limits(limits: [(i32, Option<u64>); 2]) -> std::io::Result<()> {
    for (resource, limit) in limits {
        if let Some(bytes) = limit {
            // SAFETY: setrlimit reads a live two-word array; it changes only this process's limit.
            if unsafe { setrlimit(resource, &[bytes, bytes]) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

pub(crate) fn main(me: &Path, bin: PathBuf, rest: Vec<OsString>) -> ! {
    let s = crate::session::current();
    crate::profile::begin(&s, "build script");
    let (bwrap, confine) = sandbox_programs(&s);
    let script = locate(me, bin, &s);
    let filter = EnvFilter::load(&s.dir);
    let pkg = package_policy(&s.dir);
    write_record(&script.record, &script.out, &script.manifest, me, &pkg);
    if !pkg.sandbox {
        run_unsandboxed(script.bin, rest);
    }
    let mut a = bwrap_view(&s, &pkg, &script);
    let network = start_network(&s, &pkg, &script);
    // `make -j`, `cc` and `cmake` share cargo's job limit (jobserver.rs).
    let jobserver = crate::jobserver::pass_through();
    bwrap_tail(&mut a, &pkg, network.as_ref(), &jobserver, &confine);
    let env = script_environment(&s, &filter, &pkg, network.as_ref(), &jobserver, &script.record);
    let mut program = match pkg.runner.is_empty() {
        true => sandboxed_command(&s, &pkg, &script, [vec![bwrap], a].concat(), &confine, network.as_ref(), &jobserver),
        false => runner_command(&pkg, &script, &env),
    };
    program.extend(rest);
    start(&s, &pkg, &script, program, env)
}

/// The build script this launcher stands for, and its directories.
struct Script {
    /// The real script (NAME.real, or NAME.wasm).
    bin: PathBuf,
    wasm: bool,
    out: PathBuf,
    manifest: PathBuf,
    /// The run record, PID in the session's runs directory (see the top of this file).
    record: PathBuf,
}

/// The script and the directories cargo made for it, each checked.
fn locate(me: &Path, bin: PathBuf, s: &Session) -> Script {
    if !bin.is_file() {
        die(&format!("the build script binary `{}` is missing; run `cargo clean` and build again", bin.display()));
    }
    let out = var("OUT_DIR").map(PathBuf::from).filter(|o| o.is_dir()).unwrap_or_else(|| die("OUT_DIR is not set or missing"));
    // <profile>/build/<unit>/out, as cargo made them: the script writes there.
    let profile = out.ancestors().nth(3).map(Path::to_path_buf).unwrap_or_default();
    // The host profile (this launcher's) and the OUT_DIR's (`<target>/<triple>/<profile>` when cross-compiling).
    let host_profile = me.ancestors().nth(3).map(Path::to_path_buf).unwrap_or_default();
    crate::jail::refuse_unsafe_write(&out, 4, &[me.parent().map(Path::to_path_buf).unwrap_or_default(), profile.join("deps"), host_profile.join("deps")]);
    let manifest = var("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_else(|| die("CARGO_MANIFEST_DIR is not set"));
    let wasm = bin.extension().is_some_and(|e| e == "wasm");
    Script { bin, wasm, out, manifest, record: s.runs.join(std::process::id().to_string()) }
}

/// The explicit escape hatch (`sandbox = false` for this package): run as plain cargo would.
fn run_unsandboxed(bin: PathBuf, rest: Vec<OsString>) -> ! {
    for (name, _) in std::env::vars_os() {
        if name.as_bytes().starts_with(b"__CARGO_SANDBOX_") && name != SAVED_LIBRARY_PATH {
            std::env::remove_var(name);
        }
    }
    exec_on_host(&[vec![bin.into_os_string()], rest].concat())
}

/// bwrap's view for the script: the session's (`--args 3`), the build directories, the package's
/// grants, its secrets hidden, and Node for a wasm script.
fn bwrap_view(s: &Session, pkg: &PackagePolicy, script: &Script) -> Vec<OsString> {
    let (out, manifest) = (&script.out, &script.manifest);
    let dir = script.bin.parent().unwrap_or_else(|| Path::new("/"));
    // <target>/<profile>/build: other packages' OUT_DIRs, which DEP_* variables point into (read-only).
    let build_root = out.ancestors().nth(2).unwrap_or_else(|| Path::new("/"));
    let mut a: Vec<OsString> = vec!["--args".into(), "3".into()];
    // Not again what the view shows already, as it is (the workspace often holds all three): binds.rs.
    let mut shown = crate::binds::Shown::of_setup(&s.dir);
    for path in [build_root, dir, manifest] {
        if !shown.covers(path) {
            push(&mut a, &["--ro-bind".as_ref(), path.as_os_str(), path.as_os_str()]);
            shown.add(path, true);
        }
    }
    push(&mut a, &["--bind".as_ref(), out.as_os_str(), out.as_os_str()]);
    grant_binds(&mut a, pkg, out, manifest, &s.own_trees);
    crate::jail::hide_package_secrets(&mut a, manifest, s);
    if script.wasm {
        // A build script compiled for wasm runs on Node's WASI: Node and our runner must be visible.
        let (node, js) = (&s.node, &s.js);
        let node_dir = Path::new(&node).parent().unwrap_or_else(|| Path::new("/usr/bin")).to_path_buf();
        push(&mut a, &["--ro-bind".as_ref(), node_dir.as_os_str(), node_dir.as_os_str(), "--ro-bind".as_ref(), js.as_os_str(), js.as_os_str()]);
    }
    a
}

/// An `allow-network` list (and, under `cargo sandbox audit`, any script without the whole
/// network, so that the names it asks for are recorded): the filtering proxy, for as long as this
/// process (bwrap, once exec'd) lives.
fn start_network(s: &Session, pkg: &PackagePolicy, script: &Script) -> Option<ProxiedNetwork> {
    if !pkg.connect.is_empty() && !pkg.runner.is_empty() {
        die("an `allow-network` list needs bubblewrap's network namespace; with a custom `runner` the runner decides the network: use `allow-network = true` or `false` for this package");
    }
    let proxied = (!pkg.connect.is_empty() || s.audit.is_some()) && !pkg.network && pkg.runner.is_empty() && !script.wasm;
    proxied.then(|| crate::network::start(&pkg.connect, &script.record, b""))
}

/// The rest of bwrap's arguments: the proxy's and the jobserver's, the supervisor, the working
/// directory, and cargo's library path.
fn bwrap_tail(a: &mut Vec<OsString>, pkg: &PackagePolicy, network: Option<&ProxiedNetwork>, jobserver: &Jobserver, confine: &OsString) {
    if let Some(n) = network {
        a.extend(n.bwrap.iter().cloned());
    }
    a.extend(jobserver.bwrap_args());
    push(a, &["--ro-bind".as_ref(), confine, confine, "--args".as_ref(), "4".as_ref(), "--chdir".as_ref(), working_dir().as_os_str()]);
    // Cargo's library path (build scripts' native search paths) for the script, inside only.
    // (A custom runner gets none: it runs on the host.)
    if let (true, Some(path)) = (pkg.runner.is_empty(), std::env::var_os(SAVED_LIBRARY_PATH)) {
        push(a, &["--setenv".as_ref(), "LD_LIBRARY_PATH".as_ref(), &path]);
    }
}

/// The script's environment (the session's filter, the package's grants), recorded as PID.env.
fn script_environment(s: &Session, filter: &EnvFilter, pkg: &PackagePolicy, network: Option<&ProxiedNetwork>, jobserver: &Jobserver, record: &Path) -> Vec<(OsString, OsString)> {
    let mut env = filter.apply(pkg);
    // Cargo hands scripts its RUSTDOC, which in a session is our wrapper (not shown inside, and no
    // tool for them): the rustdoc cargo would have used instead.
    for (_, value) in env.iter_mut().filter(|(name, _)| name == "RUSTDOC") {
        *value = crate::rustdoc::user_rustdoc(s);
    }
    if let Some(n) = network {
        env.retain(|(k, _)| !crate::network::proxy_variable(k.as_bytes()));
        env.extend(n.env.iter().cloned());
    }
    jobserver.rewrite(&mut env);
    let mut env_record = Vec::new();
    for (k, v) in &env {
        env_record.extend_from_slice(&[k.as_bytes(), b"=", v.as_bytes(), b"\0"].concat());
    }
    let _ = fs::write(record.with_extension("env"), env_record);
    env
}

/// A configured runner (sandbox.runner) replaces bubblewrap: it is the sandbox.
fn runner_command(pkg: &PackagePolicy, script: &Script, env: &[(OsString, OsString)]) -> Vec<OsString> {
    let mut program: Vec<OsString> = pkg.runner.iter().map(|w| runner_word(w, &script.bin, env)).collect();
    if let Some(t) = &pkg.timeout {
        program.splice(0..0, ["timeout".into(), "--kill-after=5".into(), t.clone()]);
    }
    program
}

/// bwrap (with its arguments), and inside it the supervisor (libexec/confine.rs), which adds Landlock, checks cargo
/// directives and output, and sweeps OUT_DIR afterwards; its findings go to fd 6. Under `cargo
/// sandbox audit`, strace around them.
fn sandboxed_command(
    s: &Session,
    pkg: &PackagePolicy,
    script: &Script,
    bwrap: Vec<OsString>,
    confine: &OsString,
    network: Option<&ProxiedNetwork>,
    jobserver: &Jobserver,
) -> Vec<OsString> {
    let (out, record) = (&script.out, &script.record);
    let mut program = bwrap;
    push(&mut program, &["--json-status-fd".as_ref(), "5".as_ref(), "--".as_ref(), confine, "--out".as_ref(), out.as_os_str(), "--report-fd".as_ref(), "6".as_ref()]);
    confine_limits(&mut program, pkg, out, &script.manifest);
    if let Some(n) = network {
        program.extend(n.confine.iter().cloned());
    }
    program.extend(jobserver.confine_args());
    program.extend(crate::profile::supervisor_args());
    program.push("--".into());
    if script.wasm {
        // Two layers: Node's WASI (no security boundary by itself) inside bubblewrap.
        push(&mut program, &[&s.node, "--no-warnings".as_ref(), s.js.join("backends/wasi-runner.js").as_os_str()]);
    }
    program.push(script.bin.clone().into_os_string());
    // `cargo sandbox audit`: strace, run around bwrap (outside the sandbox, where the script
    // cannot reach its output), records what the script does.
    if let Some(strace) = s.audit.clone() {
        let trace = record.with_extension("trace");
        let calls = "trace=execve,execveat,open,openat,openat2,creat,mkdir,mkdirat,unlink,unlinkat,rename,renameat,renameat2,connect,sendto,sendmsg";
        let mut wrapped: Vec<OsString> =
            vec![strace, "-f".into(), "-qq".into(), "-y".into(), "-s".into(), "1024".into(), "-o".into(), trace.into_os_string(), "-e".into(), calls.into(), "--".into()];
        wrapped.extend(program);
        program = wrapped;
    }
    program
}

/// Starts `program` with the run record's descriptors and the package's limits: by exec, so cargo
/// waits for the script itself; under audit as a child (see below).
fn start(s: &Session, pkg: &PackagePolicy, script: &Script, program: Vec<OsString>, env: Vec<(OsString, OsString)>) -> ! {
    let record = &script.record;
    let create = |ext: &str| File::create(record.with_extension(ext)).unwrap_or_else(|e| die(&format!("cannot write the run record {}: {e}", record.display())));
    // bwrap writes the script's exit status to fd 5 (how it ended, e.g. killed by a limit's signal).
    let mut fds = session_args(&s.dir, pkg);
    // Without the masks this view never shows (binds.rs).
    fds.extend([(create("status"), 5), (create("report"), 6)]);
    fds.extend(crate::profile::descriptor());
    // Not for wasm (V8 reserves far more address space than it uses), nor a custom runner.
    let bwrapped = pkg.runner.is_empty();
    let limits = [(RLIMIT_FSIZE, pkg.max_file_size.filter(|_| bwrapped)), (RLIMIT_AS, pkg.max_memory.filter(|_| bwrapped && !script.wasm))];
    if crate::in_process::applies(s, &program[0]) {
        crate::profile::bwrap_start();
        crate::in_process::become_builder(&program, &s.confine, env, fds, pkg.cgroup.as_ref(), limits);
    }
    let mut cmd = Command::new(&program[0]);
    cmd.args(&program[1..]).env_clear().envs(env);
    inherit_fds(&mut cmd, fds, pkg.cgroup.as_ref());
    set_limits(&mut cmd, limits);
    // Under audit this launcher stays, strace's parent: it caps the trace (trace_cap.rs); and
    // strace waits for every child it has, the proxy (started before it) included, which waits
    // for us.
    crate::profile::bwrap_start();
    if s.audit.is_some() && pkg.runner.is_empty() {
        // Cargo killed: this launcher, then strace (and bwrap with it), then the proxy.
        crate::lifetime::die_with_parent();
        crate::lifetime::dies_with_us(&mut cmd);
        let mut child = cmd.spawn().unwrap_or_else(|e| die(&format!("cannot start {}: {e}", Path::new(&program[0]).display())));
        let cap = crate::trace_cap::watch(&child, &record.with_extension("trace"), crate::trace_cap::limit(s));
        let status = child.wait().unwrap_or_else(|e| die(&format!("lost strace: {e}")));
        cap.finish();
        std::process::exit(status.code().unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)));
    }
    let err = cmd.exec();
    die(&format!("cannot start {}: {err}", Path::new(&program[0]).display()))
}

/// The package's read and write grants, and its network.
pub(crate) fn grant_binds(a: &mut Vec<OsString>, pkg: &PackagePolicy, out: &Path, manifest: &Path, own: &[PathBuf]) {
    for (flag, paths) in [("--ro-bind-try", &pkg.read), ("--bind-try", &pkg.write)] {
        for p in paths {
            let p = expand(p, out, manifest);
            push(a, &[flag.as_ref(), &p, &p]);
            if flag == "--bind-try" {
                keep_own_read_only(a, Path::new(&p), own);
            }
        }
    }
    if !pkg.network {
        a.push("--unshare-net".into());
    }
}

/// A write grant, as the sandbox will show it (its runtime parts filled in, any link or
/// `..` in it resolved as bubblewrap resolves them), that covers one of cargo-sandbox's own trees:
/// the tree bound read-only again where the grant shows it; one inside such a tree: read-only.
/// The only place this is decided: only here are a grant's runtime parts and links known.
fn keep_own_read_only(a: &mut Vec<OsString>, granted: &Path, own: &[PathBuf]) {
    let Ok(real) = std::fs::canonicalize(granted) else { return }; // --bind-try: nothing shown
    for tree in own {
        let tree = std::fs::canonicalize(tree).unwrap_or_else(|_| tree.clone());
        if let Ok(rest) = tree.strip_prefix(&real) {
            let shown = if rest.as_os_str().is_empty() { granted.to_path_buf() } else { granted.join(rest) };
            push(a, &["--ro-bind-try".as_ref(), shown.as_os_str(), shown.as_os_str()]);
        } else if real.starts_with(&tree) {
            push(a, &["--ro-bind-try".as_ref(), granted.as_os_str(), granted.as_os_str()]);
        }
    }
}

/// The supervisor's options for the package's limits and grants.
pub(crate) fn confine_limits(program: &mut Vec<OsString>, pkg: &PackagePolicy, out: &Path, manifest: &Path) {
    for (flag, value) in [("--max-output", &pkg.max_output), ("--max-disk", &pkg.max_disk), ("--timeout", &pkg.timeout)] {
        if let Some(v) = value {
            push(program, &[flag.as_ref(), v]);
        }
    }
    if !pkg.network {
        program.push("--no-network".into());
    }
    for w in &pkg.write {
        push(program, &["--write".as_ref(), &expand(w, out, manifest)]);
    }
    for x in &pkg.exec {
        push(program, &["--exec".as_ref(), x]);
    }
}

/// Remember that this script ran (with the package's count of refused forks so far: its cgroup
/// may outlive this build).
fn write_record(record: &Path, out: &Path, manifest: &Path, me: &Path, pkg: &PackagePolicy) {
    let refused = pkg
        .cgroup
        .as_ref()
        .and_then(|c| fs::read_to_string(Path::new(c).join("pids.events")).ok())
        .and_then(|events| events.lines().find_map(|l| l.strip_prefix("max ").map(|n| n.trim().to_string())));
    // The `run` format of libexec/schema/records.json (src/intercept/session.ts reads it).
    let (package, version) = (var("CARGO_PKG_NAME").unwrap_or_default(), var("CARGO_PKG_VERSION").unwrap_or_default());
    let mut fields: Vec<(&str, &OsStr)> = vec![
        ("package", &package),
        ("package-version", &version),
        ("out-dir", out.as_os_str()),
        ("manifest-dir", manifest.as_os_str()),
        ("launcher", me.as_os_str()),
        ("policy", pkg.file.as_os_str()),
        ("refused-before", OsStr::new(refused.as_deref().unwrap_or("0"))),
    ];
    if let Some(cgroup) = &pkg.cgroup {
        fields.push(("cgroup", cgroup));
    }
    let data = records::render("run", &fields).unwrap_or_else(|e| die(&format!("cannot write the run record {}: {e}", record.display())));
    fs::write(record, data).unwrap_or_else(|e| die(&format!("cannot write the run record {}: {e}", record.display())));
}

/// One runner word: `{}` the build script, `{VAR}` a variable of the script's (scrubbed) environment.
fn runner_word(word: &OsStr, bin: &Path, env: &[(OsString, OsString)]) -> OsString {
    let w = word.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < w.len() {
        if w[i] == b'{' {
            if let Some(len) = w[i + 1..].iter().position(|&c| c == b'}') {
                let name = &w[i + 1..i + 1 + len];
                let valid = name.first().map_or(true, |c| c.is_ascii_alphabetic() || *c == b'_') && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
                if valid {
                    if name.is_empty() {
                        out.extend_from_slice(bin.as_os_str().as_bytes());
                    } else if let Some((_, v)) = env.iter().find(|(k, _)| k.as_bytes() == name) {
                        out.extend_from_slice(v.as_bytes());
                    }
                    i += len + 2;
                    continue;
                }
            }
        }
        out.push(w[i]);
        i += 1;
    }
    OsStr::from_bytes(&out).to_os_string()
}
