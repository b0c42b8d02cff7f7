// One compiler call (rustc, rustdoc, a linker under them) inside bubblewrap and the supervisor
// (libexec/confine.rs), as the session's policy (policy.rs) says: the bwrap arguments of the
// session (setup.args, finish.args, read by bwrap itself through --args), the package's limits and
// the variables the compiler must not see.
//
// Inside: the system, the toolchain, the workspace and registry (setup.args), the package's
// sources and the artifacts it reads, read-only; the private output directory (swept by the
// supervisor afterwards) and the incremental or documentation directory writable; no network; the
// package's timeout, output cap and pids cgroup.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::descriptors::inherit_fds;
use crate::die;
use crate::launch::{set_limits, RLIMIT_AS, RLIMIT_FSIZE};
use crate::network::CompileNetwork;
use crate::policy::{expand, read_entries, var, working_dir, EnvFilter, PackagePolicy, NO_OUT_DIR};
use crate::session::Session;

/// What one sandboxed call may see and do beyond the session's view.
pub(crate) struct Jail {
    /// For messages: "rustc", "rustdoc", ...
    pub what: OsString,
    /// Bound read-only, in this order (the package's directory first: it may hold the target dir,
    /// and a later bind of it would cover the writable ones).
    pub read: Vec<PathBuf>,
    /// The private output directory: writable, swept by the supervisor afterwards.
    pub stage: Option<PathBuf>,
    /// Writable, and swept afterwards as the output is (incremental or documentation directory).
    pub write: Option<PathBuf>,
    /// A file inside a writable directory that must stay as it is (bound read-only over itself).
    pub keep: Option<PathBuf>,
    pub program: Vec<OsString>,
    /// What the proc macros it loads may reach (none, unless their packages' grants say so).
    pub network: CompileNetwork,
}

pub(crate) fn push(args: &mut Vec<OsString>, words: &[&OsStr]) {
    args.extend(words.iter().map(|w| w.to_os_string()));
}

/// The first of the last `depth` components of `dir` that is not a real directory (a link, say):
/// none when they are what cargo made under its target dir.
pub(crate) fn first_not_real(dir: &Path, depth: usize) -> Option<&Path> {
    let mut p = dir;
    for _ in 0..depth {
        if !std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) {
            return Some(p);
        }
        p = p.parent().unwrap_or(p);
    }
    None
}

/// Dies unless the writable directory `dir` is safe to give a sandbox: its last `depth` components
/// are real directories, not links a repository shipped there (an OUT_DIR or incremental dir
/// leading to `../../deps`); and, where it really leads, it neither holds nor is one of the
/// `protected` directories (cargo's `deps`, the build scripts' directories), nor lies inside a
/// `deps` one. The second catches a link higher up (a `<triple>` directory leading back into the
/// target dir, with the workspace's own `target-dir` and `build.target`) that would turn an OUT_DIR
/// or documentation directory into the target dir itself, where cargo runs the build script
/// binaries on the host and keeps the libraries later compilations load, ours included.
pub(crate) fn refuse_unsafe_write(dir: &Path, depth: usize, protected: &[PathBuf]) {
    if let Some(p) = first_not_real(dir, depth) {
        die(&format!("{} is not a directory cargo made (a link shipped in target/?); nothing there is written to: run `cargo clean` and build again", p.display()));
    }
    // The target dirs above each protected `deps`: cargo makes no link in their top levels, so a
    // link there (`<triple>` leading into this OUT_DIR: a whole profile nested inside it) was shipped.
    // (A compilation's `--out-dir` is the `-L dependency=` directory too: each root looked at once.)
    let mut roots: Vec<&Path> = protected.iter().filter(|p| p.file_name().is_some_and(|n| n == "deps")).filter_map(|deps| deps.parent().and_then(Path::parent)).collect();
    roots.dedup();
    for root in roots {
        refuse_shipped_links(root, 3);
    }
    let real = std::fs::canonicalize(dir).unwrap_or_else(|e| die(&format!("cannot resolve {}: {e}", dir.display())));
    for p in protected.iter().filter_map(|p| std::fs::canonicalize(p).ok()) {
        let inside_deps = p.file_name().is_some_and(|n| n == "deps") && real.starts_with(&p);
        if p.starts_with(&real) || inside_deps {
            die(&format!(
                "{} leads to {}, which holds cargo's own {} (links shipped in target/, or a target-dir inside it?); nothing there is written to: run `cargo clean` and build again",
                dir.display(),
                real.display(),
                p.display()
            ));
        }
    }
}

/// Cargo's target and build dirs as they really are (see real_root): the only places a compilation
/// or rustdoc is shown artifacts from (`-L dependency=`, `--extern`). The configuration's rustflags
/// and rustdocflags may name any directory (a cloned repository's `-L dependency=/home`), whose
/// files rustc would then read (`include_str!`) into an artifact, or a doctest print.
pub(crate) struct BuildOutput<'a> {
    roots: &'static [PathBuf],
    target_dir: &'a Path,
}

impl<'a> BuildOutput<'a> {
    /// Resolved once per process (the `--out-dir` check and the compilation both ask): each
    /// artifact directory is checked against them.
    pub(crate) fn of(s: &'a Session) -> BuildOutput<'a> {
        static ROOTS: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();
        let roots = ROOTS.get_or_init(|| [Some(&s.target_dir), s.build_dir.as_ref()].into_iter().flatten().filter_map(|root| real_root(root)).collect());
        BuildOutput { roots, target_dir: &s.target_dir }
    }

    /// Whether the real path of `dir` lies in them.
    pub(crate) fn holds(&self, dir: &Path) -> bool {
        std::fs::canonicalize(dir).is_ok_and(|real| self.roots.iter().any(|root| real.starts_with(root)))
    }

    /// `holds`, with a warning naming `dir` when not.
    pub(crate) fn shows(&self, dir: &Path) -> bool {
        let inside = self.holds(dir);
        if !inside {
            let linked = real_root(self.target_dir).is_none().then(|| format!(" (the target dir {} is a link: name the real path instead)", self.target_dir.display()));
            eprintln!(
                "warning: cargo-sandbox: `{}` lies outside cargo's target and build dirs: the compiler is not shown it (named by `-L dependency=` or `--extern` in rustflags?){}",
                dir.display(),
                linked.unwrap_or_default()
            );
        }
        inside
    }
}

/// Where `root` (the target or build dir) really is: its parent resolved, then its own name, which
/// must be a real directory. Not a link: a repository may ship `target -> ~`, which would make the
/// whole home "inside the target dir".
fn real_root(root: &Path) -> Option<PathBuf> {
    if !std::fs::symlink_metadata(root).ok()?.is_dir() {
        return None;
    }
    Some(std::fs::canonicalize(root.parent()?).ok()?.join(root.file_name()?))
}

/// Dies at a link in the top `depth` levels of a target dir (its profiles and `<triple>` dirs and
/// what they hold directly), not looking inside the directories of artifacts cargo fills itself.
fn refuse_shipped_links(dir: &Path, depth: usize) {
    const FILLED: [&str; 8] = ["deps", "build", "incremental", ".fingerprint", "examples", "doc", "tmp", "native"];
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let kind = match entry.file_type() {
            Ok(k) => k,
            Err(_) => continue,
        };
        if kind.is_symlink() {
            die(&format!("{} is a link, which cargo never makes there (shipped in target/?); nothing is built: run `cargo clean` and build again", entry.path().display()));
        }
        if kind.is_dir() && depth > 1 && !FILLED.iter().any(|f| entry.file_name() == *f) {
            refuse_shipped_links(&entry.path(), depth - 1);
        }
    }
}

/// What becomes of each line of the jailed program's stderr.
pub(crate) type Relay<'a> = &'a mut dyn FnMut(&[u8]) -> Vec<u8>;

/// Runs the jailed program and returns its exit code (128 + signal if killed). With `relay`,
/// its stderr comes through here line by line (see rustc.rs: artifact notifications).
pub(crate) fn run(s: &Session, jail: &Jail, pkg: &PackagePolicy, relay: Option<Relay>) -> i32 {
    // Cargo killed: this wrapper, then bwrap (--die-with-parent) and the proxy.
    crate::lifetime::die_with_parent();
    let session = &s.dir;
    let (bwrap, confine) = sandbox_programs(s);
    let cwd = working_dir();

    let mut a: Vec<OsString> = vec!["--args".into(), "3".into()];
    // Not again what the view shows already, as it is (the workspace, rustc under ~/.rustup): binds.rs.
    let mut shown = crate::binds::Shown::of_setup(session);
    for dir in &jail.read {
        if !shown.covers(dir) && dir.exists() {
            push(&mut a, &["--ro-bind".as_ref(), dir.as_os_str(), dir.as_os_str()]);
            shown.add(dir, true);
        }
    }
    // The package's read grants (`allow-read`): a crate may include a file from outside the
    // workspace at compile time, as its build script may read it.
    let manifest = var("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_default();
    let out_dir = var("OUT_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(NO_OUT_DIR));
    for p in &pkg.read {
        let p = expand(p, &out_dir, &manifest);
        push(&mut a, &["--ro-bind-try".as_ref(), &p, &p]);
    }
    hide_package_secrets(&mut a, &manifest, s);
    for (flag, path) in [("--bind", &jail.stage), ("--bind", &jail.write), ("--ro-bind", &jail.keep)] {
        if let Some(p) = path {
            push(&mut a, &[flag.as_ref(), p.as_os_str(), p.as_os_str()]);
        }
    }
    let record = s.runs.join(format!("compile-{}", std::process::id()));
    let proxied = match &jail.network {
        CompileNetwork::Listed(allowed, header, _) => Some(crate::network::start(allowed, &record, header)),
        _ => None,
    };
    if let Some(n) = &proxied {
        a.extend(n.bwrap.iter().cloned());
    }
    // The checked copies of granted macros, and the arguments that lead rustc to them (sealed.rs).
    let mut files = session_args(session, pkg);
    let mut sealed_confine: Vec<OsString> = vec![];
    let program = match jail.network.sealed().map(|sealed| sealed.prepare(&jail.program, &cwd)) {
        Some(prepared) => {
            a.extend(prepared.bwrap);
            sealed_confine = prepared.confine;
            files.extend(prepared.links.map(|f| (f, crate::sealed::VIEWS_FD)));
            prepared.program
        }
        None => jail.program.clone(),
    };
    if !matches!(jail.network, CompileNetwork::Whole(_)) {
        a.push("--unshare-net".into());
    }
    // rustc's own parallelism shares cargo's job limit.
    let jobserver = crate::jobserver::pass_through();
    a.extend(jobserver.bwrap_args());
    push(&mut a, &["--ro-bind".as_ref(), &confine, &confine, "--args".as_ref(), "4".as_ref(), "--chdir".as_ref(), cwd.as_os_str()]);
    // Cargo's library path (build scripts' native search paths), for the program inside only:
    // the entry point removed it from our own environment, so bwrap never loads from it.
    if let Some(path) = std::env::var_os(crate::SAVED_LIBRARY_PATH) {
        push(&mut a, &["--setenv".as_ref(), "LD_LIBRARY_PATH".as_ref(), &path]);
    }
    push(&mut a, &["--".as_ref(), &confine, "--what".as_ref(), &jail.what, "--no-directives".as_ref()]);
    if !matches!(jail.network, CompileNetwork::Whole(_)) {
        a.push("--no-network".into());
    }
    if let Some(n) = &proxied {
        a.extend(n.confine.iter().cloned());
    }
    a.extend(jobserver.confine_args());
    a.extend(sealed_confine);
    a.extend(crate::profile::supervisor_args());
    files.extend(crate::profile::descriptor());
    if let Some(s) = &jail.stage {
        push(&mut a, &["--out".as_ref(), s.as_os_str()]);
    }
    // Swept afterwards like the output (no setuid file, FIFO or outward link stays behind in
    // target/), and counted in max-disk.
    if let Some(w) = &jail.write {
        push(&mut a, &["--sweep".as_ref(), w.as_os_str()]);
    }
    for (flag, value) in [("--timeout", &pkg.timeout), ("--max-output", &pkg.max_output), ("--max-disk", &pkg.compile_max_disk)] {
        if let Some(v) = value {
            push(&mut a, &[flag.as_ref(), v]);
        }
    }
    a.push("--".into());
    a.extend(program);

    // Without the masks this view never shows (binds.rs).
    let mut cmd = Command::new(&bwrap);
    let traced = s.audit.is_some();
    // `cargo sandbox audit`: strace, around bwrap (outside the sandbox), records the connections its
    // macros try that bypass the proxy (a database driver); only those calls stop the compiler.
    if let (Some(strace), Some(_)) = (&s.audit, &proxied) {
        cmd = Command::new(strace);
        cmd.args(["-f", "-qq", "--seccomp-bpf", "-e", "trace=connect,sendto,sendmsg", "-o"]).arg(record.with_extension("trace")).arg("--").arg(&bwrap);
        crate::lifetime::dies_with_us(&mut cmd);
    }
    cmd.args(&a);
    scrub_environment(&mut cmd, session, pkg);
    cmd.envs(jobserver.env);
    if let Some(n) = &proxied {
        for (name, _) in std::env::vars_os().filter(|(k, _)| crate::network::proxy_variable(k.as_bytes())) {
            cmd.env_remove(name);
        }
        cmd.envs(n.env.iter().cloned());
    }
    let limits = [(RLIMIT_FSIZE, pkg.compile_max_file_size), (RLIMIT_AS, pkg.compile_max_memory)];
    crate::profile::bwrap_start();
    let code = if crate::in_process::applies(s, cmd.get_program()) {
        let (pid, err) = crate::in_process::spawn_builder(&cmd, &s.confine, files, pkg.cgroup.as_ref(), limits, relay.is_some());
        if let (Some(relay), Some(mut err)) = (relay, err) {
            relay_lines(&mut err, relay);
        }
        crate::in_process::wait(pid)
    } else {
        inherit_fds(&mut cmd, files, pkg.cgroup.as_ref());
        set_limits(&mut cmd, limits);
        if relay.is_some() {
            cmd.stderr(Stdio::piped());
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| die(&format!("cannot start bubblewrap ({}) for {}: {e}", Path::new(&bwrap).display(), jail.what.to_string_lossy())));
        let cap = (traced && proxied.is_some()).then(|| crate::trace_cap::watch(&child, &record.with_extension("trace"), crate::trace_cap::limit(s)));
        if let (Some(relay), Some(mut err)) = (relay, child.stderr.take()) {
            relay_lines(&mut err, relay);
        }
        let status = child.wait().unwrap_or_else(|e| die(&format!("lost bubblewrap: {e}")));
        if let Some(cap) = cap {
            cap.finish();
        }
        status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
    };
    if let Some(n) = proxied {
        n.stop();
    }
    if let Some(sealed) = jail.network.sealed() {
        sealed.remove();
    }
    code
}

/// The secrets of a package directory outside the workspace (see package_secrets.rs).
pub(crate) fn hide_package_secrets(a: &mut Vec<OsString>, manifest: &Path, s: &Session) {
    crate::package_secrets::hide(a, manifest, s.workspace.as_deref(), &s.dir.join("empty"));
}

/// bubblewrap and the supervisor, as the session names them.
pub(crate) fn sandbox_programs(s: &Session) -> (OsString, OsString) {
    if !Path::new(&s.confine).is_file() {
        die(&format!("the sandbox supervisor {} is missing; run the build again", Path::new(&s.confine).display()));
    }
    (s.builder.clone(), s.confine.clone())
}

/// The session's bwrap arguments, for fds 3 (`--args 3`: namespaces and the system view) and 4
/// (`--args 4`: the masks, the package's own where its grants reveal a secret).
pub(crate) fn session_args(session: &Path, pkg: &PackagePolicy) -> Vec<(File, i32)> {
    let open = |path: &Path| File::open(path).unwrap_or_else(|e| die(&format!("cannot read the sandbox policy {}: {e}", path.display())));
    let finish = pkg.finish.as_ref().map(PathBuf::from).unwrap_or_else(|| session.join("finish.args"));
    vec![(open(&session.join("setup.args")), 3), (open(&finish), 4)]
}

/// The compiler sees cargo's environment without the user's secrets and without ours: the
/// user's variables the policy does not pass (listed by the session, any name), and whatever
/// cargo adds that looks like a secret (its `[env]` table: the policy's deny patterns), unless
/// the package's `allow-env` names it.
fn scrub_environment(cmd: &mut Command, session: &Path, pkg: &PackagePolicy) {
    for name in read_entries(&session.join("unset-user-env.list")) {
        cmd.env_remove(OsStr::from_bytes(&name));
    }
    let filter = EnvFilter::load(session);
    for (name, _) in std::env::vars_os() {
        let n = name.as_bytes();
        if n.starts_with(b"__CARGO_SANDBOX_") || n == b"RUSTC_WRAPPER" || n == b"RUSTC_WORKSPACE_WRAPPER" || filter.denies(n, pkg) {
            cmd.env_remove(&name);
        }
    }
    cmd.env("TMPDIR", "/tmp");
}

/// Copies `from` to our stderr, passing each complete line through `relay` first.
fn relay_lines(from: &mut impl Read, relay: &mut dyn FnMut(&[u8]) -> Vec<u8>) {
    let mut stderr = std::io::stderr();
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        pending.extend_from_slice(&buf[..n]);
        let mut start = 0;
        while let Some(nl) = pending[start..].iter().position(|&c| c == b'\n') {
            let line = &pending[start..start + nl + 1];
            let _ = stderr.write_all(&relay(line));
            start += nl + 1;
        }
        pending.drain(..start);
    }
    // A last line without its newline is a line all the same (cargo's fix proxy reads it).
    if !pending.is_empty() {
        let _ = stderr.write_all(&relay(&pending));
    }
}
