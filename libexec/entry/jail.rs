// One compiler call (rustc, rustdoc, a linker under them) inside bubblewrap and the supervisor
// (libexec/confine.rs), as the session's policy says. The policy is data written by cargo-sandbox
// (src/intercept/session.ts): the bwrap arguments of the session (setup.args, finish.args, read by
// bwrap itself through --args), the package's limits (packages/FILE.data, `key=value` entries
// ending in NUL) and the variables the compiler must not see (unset-user-env.list, NUL-separated
// names). Nothing here is shell: no value is ever parsed as a command.
//
// Inside: the system, the toolchain, the workspace and registry (setup.args), the package's
// sources and the artifacts it reads, read-only; the private output directory (swept by the
// supervisor afterwards) and the incremental or documentation directory writable; no network; the
// package's timeout, output cap and pids cgroup.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::die;

extern "C" {
    fn fcntl(fd: i32, cmd: i32, ...) -> i32;
    fn dup2(old: i32, new: i32) -> i32;
    fn open(path: *const i8, flags: i32, ...) -> i32;
    fn write(fd: i32, buf: *const u8, n: usize) -> isize;
}
const F_DUPFD: i32 = 0;
const O_WRONLY: i32 = 1;

pub(crate) fn var(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

fn session_dir() -> PathBuf {
    PathBuf::from(var("__CARGO_SANDBOX_SESSION").unwrap_or_else(|| die("the sandbox session is missing; run the build through `cargo sandbox`")))
}

/// The grants of the package being compiled: the most specific data file the session has
/// (name@version, name, or the default), as the build-script launcher picks them.
#[derive(Default)]
pub(crate) struct PackagePolicy {
    pub timeout: Option<OsString>,
    pub max_output: Option<OsString>,
    pub cgroup: Option<OsString>,
    pub finish: Option<OsString>,
    /// The target build scripts are compiled for (sandbox.target), as a JSON file for Node.
    pub target: Option<OsString>,
}

pub(crate) fn package_policy() -> PackagePolicy {
    let packages = session_dir().join("packages");
    let name = std::env::var("CARGO_PKG_NAME").unwrap_or_default();
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let candidates = [format!("{name}@{version}.data"), format!("{name}.data"), "_default.data".to_string()];
    let file = candidates.iter().map(|c| packages.join(c)).find(|p| p.is_file());
    let file = file.unwrap_or_else(|| die(&format!("the sandbox policy in {} is missing; run the build through `cargo sandbox`", packages.display())));
    let mut policy = PackagePolicy::default();
    for entry in read_entries(&file) {
        let eq = entry.iter().position(|&c| c == b'=').unwrap_or(entry.len());
        let value = OsStr::from_bytes(entry.get(eq + 1..).unwrap_or(&[])).to_os_string();
        let value = if value.is_empty() { None } else { Some(value) };
        match &entry[..eq] {
            b"timeout" => policy.timeout = value,
            b"max-output" => policy.max_output = value,
            b"cgroup" => policy.cgroup = value,
            b"finish" => policy.finish = value,
            b"target" => policy.target = value,
            _ => {}
        }
    }
    policy
}

/// A session file of NUL-terminated entries.
fn read_entries(file: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(file).unwrap_or_else(|e| die(&format!("cannot read the sandbox policy {}: {e}", file.display())));
    data.split(|&c| c == 0).filter(|e| !e.is_empty()).map(|e| e.to_vec()).collect()
}

/// What one sandboxed call may see and do beyond the session's view.
pub(crate) struct Jail {
    /// For messages: "rustc", "rustdoc", ...
    pub what: OsString,
    /// Bound read-only, in this order (the package's directory first: it may hold the target dir,
    /// and a later bind of it would cover the writable ones).
    pub read: Vec<PathBuf>,
    /// The private output directory: writable, swept by the supervisor afterwards.
    pub stage: Option<PathBuf>,
    /// Writable, not swept (incremental or documentation directory).
    pub write: Option<PathBuf>,
    /// A file inside a writable directory that must stay as it is (bound read-only over itself).
    pub keep: Option<PathBuf>,
    pub program: Vec<OsString>,
}

fn push(args: &mut Vec<OsString>, words: &[&OsStr]) {
    args.extend(words.iter().map(|w| w.to_os_string()));
}

/// Runs the jailed program and returns its exit code (128 + signal if killed). With `relay`,
/// its stderr comes through here line by line (see rustc.rs: artifact notifications).
pub(crate) fn run(jail: &Jail, pkg: &PackagePolicy, relay: Option<&mut dyn FnMut(&[u8]) -> Vec<u8>>) -> i32 {
    let session = session_dir();
    let bwrap = var("__CARGO_SANDBOX_BWRAP").unwrap_or_else(|| die("__CARGO_SANDBOX_BWRAP is not set"));
    let confine = var("__CARGO_SANDBOX_CONFINE").unwrap_or_else(|| die("the sandbox supervisor (__CARGO_SANDBOX_CONFINE) is missing"));
    let cwd = var("PWD").map(PathBuf::from).filter(|p| p.is_absolute()).unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|e| die(&format!("no working directory: {e}"))));

    let mut a: Vec<OsString> = vec!["--args".into(), "3".into()];
    let mut seen: Vec<&Path> = vec![];
    for dir in &jail.read {
        if !seen.contains(&dir.as_path()) && dir.exists() {
            push(&mut a, &["--ro-bind".as_ref(), dir.as_os_str(), dir.as_os_str()]);
            seen.push(dir);
        }
    }
    for (flag, path) in [("--bind", &jail.stage), ("--bind", &jail.write), ("--ro-bind", &jail.keep)] {
        if let Some(p) = path {
            push(&mut a, &[flag.as_ref(), p.as_os_str(), p.as_os_str()]);
        }
    }
    push(&mut a, &["--ro-bind".as_ref(), &confine, &confine, "--unshare-net".as_ref(), "--args".as_ref(), "4".as_ref(), "--chdir".as_ref(), cwd.as_os_str()]);
    // Cargo's library path (build scripts' native search paths), for the program inside only:
    // the entry point removed it from our own environment, so bwrap never loads from it.
    if let Some(path) = std::env::var_os(crate::SAVED_LIBRARY_PATH) {
        push(&mut a, &["--setenv".as_ref(), "LD_LIBRARY_PATH".as_ref(), &path]);
    }
    push(&mut a, &["--".as_ref(), &confine, "--what".as_ref(), &jail.what, "--no-directives".as_ref(), "--no-network".as_ref()]);
    if let Some(s) = &jail.stage {
        push(&mut a, &["--out".as_ref(), s.as_os_str()]);
    }
    if let Some(w) = &jail.write {
        push(&mut a, &["--write".as_ref(), w.as_os_str()]);
    }
    if let Some(t) = &pkg.timeout {
        push(&mut a, &["--timeout".as_ref(), t]);
    }
    if let Some(m) = &pkg.max_output {
        push(&mut a, &["--max-output".as_ref(), m]);
    }
    a.push("--".into());
    a.extend(jail.program.iter().cloned());

    let setup = open_policy(&session.join("setup.args"));
    let finish = open_policy(&pkg.finish.as_ref().map(PathBuf::from).unwrap_or_else(|| session.join("finish.args")));
    let mut cmd = Command::new(&bwrap);
    cmd.args(&a);
    scrub_environment(&mut cmd, &session);
    let (setup_fd, finish_fd) = (setup.as_raw_fd(), finish.as_raw_fd());
    let cgroup = pkg.cgroup.as_ref().map(|c| CString::new(Path::new(c).join("cgroup.procs").as_os_str().as_bytes()).unwrap_or_else(|_| die("bad cgroup path")));
    unsafe {
        cmd.pre_exec(move || {
            // bwrap reads the session's arguments from fds 3 and 4 (`--args`); moved above 10 first
            // so that neither lands on the other.
            let (s, f) = (fcntl(setup_fd, F_DUPFD, 10), fcntl(finish_fd, F_DUPFD, 10));
            if s < 0 || f < 0 || dup2(s, 3) < 0 || dup2(f, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // max-processes: this process, so bwrap and all in it, joins the package's pids cgroup.
            if let Some(procs) = &cgroup {
                let fd = open(procs.as_ptr(), O_WRONLY);
                if fd < 0 || write(fd, b"0".as_ptr(), 1) != 1 {
                    return Err(std::io::Error::new(std::io::ErrorKind::Other, "cannot enter the process-limit cgroup"));
                }
            }
            Ok(())
        });
    }
    if relay.is_some() {
        cmd.stderr(Stdio::piped());
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| die(&format!("cannot start bubblewrap ({}) for {}: {e}", Path::new(&bwrap).display(), jail.what.to_string_lossy())));
    if let (Some(relay), Some(mut err)) = (relay, child.stderr.take()) {
        relay_lines(&mut err, relay);
    }
    let status = child.wait().unwrap_or_else(|e| die(&format!("lost bubblewrap: {e}")));
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

fn open_policy(path: &Path) -> File {
    File::open(path).unwrap_or_else(|e| die(&format!("cannot read the sandbox policy {}: {e}", path.display())))
}

/// The compiler sees cargo's environment without the user's secrets (the session lists the
/// names, which need not be shell identifiers) and without ours.
fn scrub_environment(cmd: &mut Command, session: &Path) {
    for name in read_entries(&session.join("unset-user-env.list")) {
        cmd.env_remove(OsStr::from_bytes(&name));
    }
    for (name, _) in std::env::vars_os() {
        let n = name.as_bytes();
        if n.starts_with(b"__CARGO_SANDBOX_") || n == b"RUSTC_WRAPPER" || n == b"RUSTC_WORKSPACE_WRAPPER" {
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
    let _ = stderr.write_all(&pending);
}
