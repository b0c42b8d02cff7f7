// cargo-sandbox's compiled front end: replays a cached build session without starting Node.
//
// Node starts in ~0.1 s, as long as a no-op `cargo build` takes. Everything a sandboxed build
// decides before cargo starts (configuration, policy files, environment for cargo) depends only on
// inputs this program can fingerprint in well under a millisecond: the arguments, the working
// directory, the whole environment, the metadata of every file cargo's configuration and the
// workspace are read from, cargo-sandbox's own code, and the boot. Node writes the session under
// that fingerprint (sessions/KEY/, see src/intercept/session-cache.ts) the first time; from then on
// this program checks the host paths the policy was derived from, prints the same warnings, runs
// cargo with the session's environment, and hands over to Node only when there is something to
// explain: a build script ran (its findings), or cargo failed.
//
// Compiled on first use by the rustc that builds the project (std only), with the package root and
// Node's path fixed at compile time (CARGO_SANDBOX_ROOT, CARGO_SANDBOX_NODE), unless the package
// has it prebuilt: then those are written into the copy (shared/fixed_path.rs).

#![warn(clippy::undocumented_unsafe_blocks)]

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
    fn signal(sig: i32, handler: usize) -> usize;
    fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
    fn getppid() -> i32;
    fn _exit(code: i32) -> !;
}
const PR_SET_PDEATHSIG: i32 = 1;
const SIG_ERR: usize = usize::MAX;

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
const FORWARDED: [i32; 4] = [1, 2, 3, 15]; // SIGHUP, SIGINT, SIGQUIT, SIGTERM

static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: i32) {
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill takes plain integers; called from a signal handler, and kill is async-signal-safe.
        unsafe { kill(pid, sig) };
    }
}

// SHA-256, shared with the entry point (its other functions are the entry point's).
#[allow(dead_code)]
#[path = "entry/sha256.rs"]
mod sha256;

// The session's key: SHA-256 of everything a cached session depends on.
#[path = "front-end/session_key.rs"]
mod session_key;
use session_key::session_key;

/// A cached session: NUL-separated fields, read as records (see session-cache.ts).
struct Entry {
    env: Vec<(OsString, OsString)>,
    argv: Vec<OsString>,
    /// Cargo's copy of the compiler's version text and where its identity is recorded
    /// (src/intercept/rustc-info.ts): believed only as cargo wrote it for us.
    rustc_info: Option<(PathBuf, PathBuf)>,
}

/// The entry, if it exists and every host path its policy was derived from is as it was.
fn load_entry(dir: &Path) -> Option<Entry> {
    let data = fs::read(dir.join("entry")).ok()?;
    let mut fields = data.strip_suffix(b"\0")?.split(|b| *b == 0).map(|f| OsStr::from_bytes(f).to_os_string());
    let mut entry = Entry { env: Vec::new(), argv: Vec::new(), rustc_info: None };
    let mut complete = false;
    while let Some(kind) = fields.next() {
        match kind.as_bytes() {
            b"check" => {
                let path = PathBuf::from(fields.next()?);
                if host_entry(&path) != fields.next()? {
                    return None;
                }
            }
            // A file replayed as it is (policy file, compiled helper): untouched since written.
            b"same" => {
                let path = PathBuf::from(fields.next()?);
                if identity(&path)?.as_bytes() != fields.next()?.as_bytes() {
                    return None;
                }
            }
            b"rustc-info" => entry.rustc_info = Some((PathBuf::from(fields.next()?), PathBuf::from(fields.next()?))),
            b"env" => entry.env.push((fields.next()?, fields.next()?)),
            b"argv" => entry.argv.push(fields.next()?),
            b"end" => complete = true,
            _ => return None,
        }
    }
    if complete && !entry.argv.is_empty() && entry.rustc_info.is_some() {
        Some(entry)
    } else {
        None
    }
}

/// As fileIdentity in src/intercept/session-cache.ts: device, inode, size, change time in ns.
fn identity(path: &Path) -> Option<String> {
    let m = fs::symlink_metadata(path).ok()?;
    Some(format!("{}:{}:{}:{}", m.dev(), m.ino(), m.len(), m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128))
}

/// The same classification as src/backends/host.ts: dir, file, symlink:TARGET or missing.
fn host_entry(path: &Path) -> OsString {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            let mut s = OsString::from("symlink:");
            s.push(fs::read_link(path).unwrap_or_default());
            s
        }
        Ok(m) if m.is_dir() => "dir".into(),
        Ok(_) => "file".into(),
        Err(_) => "missing".into(),
    }
}

/// Node's cargo-sandbox, with what it needs to write a session or explain this run.
fn node(args: &[OsString], vars: &[(&str, OsString)]) -> ! {
    let node = if Path::new(node_path()).exists() { node_path() } else { "node" };
    let mut cmd = Command::new(node);
    cmd.arg(Path::new(package_root()).join("dist/src/cli/main.js")).args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let err = cmd.exec();
    eprintln!("error: cargo-sandbox: could not start Node ({}): {}", node, err);
    std::process::exit(101)
}

fn main() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let cwd = match std::env::current_dir() {
        Ok(cwd) => cwd,
        Err(_) => node(&args, &[]),
    };
    let here = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf));
    let sessions = match here {
        Some(dir) => dir.join("sessions"),
        None => node(&args, &[]),
    };
    // Without HOME the trusted-workspace list is not where the front end can watch it.
    if std::env::var_os("HOME").is_none() {
        node(&args, &[]);
    }
    let key = session_key(&args, &cwd);
    let dir = sessions.join(&key);
    let entry = match load_entry(&dir) {
        Some(entry) => entry,
        None => node(&args, &[("__CARGO_SANDBOX_CACHE_ENTRY", dir.into_os_string())]),
    };
    // The warnings Node printed before cargo, the same bytes (colour was part of the key).
    if let Ok(preamble) = fs::read(dir.join("stderr")) {
        let _ = std::io::stderr().write_all(&preamble);
    }
    // Each run's build scripts record themselves here; the directory's mtime says the entry is in use.
    let runs = dir.join("runs").join(std::process::id().to_string());
    let _ = fs::remove_dir_all(&runs); // left by a run of the same PID that was killed
    if fs::create_dir_all(&runs).is_err() {
        node(&args, &[]);
    }
    // Another copy than the one cargo wrote for us last time (a repository shipped it, or the run
    // that wrote it was killed before recording it): removed, as Node does; cargo asks rustc again.
    if let Some((file, record)) = &entry.rustc_info {
        if let Some(found) = identity(file) {
            if fs::read(record).ok().as_deref() != Some(found.as_bytes()) {
                let removed = match fs::symlink_metadata(file) {
                    Ok(m) if m.is_dir() => fs::remove_dir_all(file),
                    _ => fs::remove_file(file),
                };
                if removed.is_err() {
                    node(&args, &[]);
                }
            }
        }
    }
    let mut cmd = Command::new(&entry.argv[0]);
    cmd.args(&entry.argv[1..]).env("__CARGO_SANDBOX_RUNS", &runs);
    for (k, v) in &entry.env {
        cmd.env(k, v);
    }
    // cargo dies with us, even by SIGKILL: each sandboxed process below it dies with its parent.
    let me = std::process::id() as i32;
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl, getppid and _exit, which are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // A failure reaches us, whose spawn fails with its errno.
            if prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // We are already gone: nobody waits for an error, and cargo must not start.
            if getppid() != me {
                _exit(101);
            }
            Ok(())
        });
    }
    for sig in FORWARDED {
        // SAFETY: signal takes a signal number and the address of an extern "C" handler that only reads an atomic and calls kill.
        if unsafe { signal(sig, forward as *const () as usize) } == SIG_ERR {
            // Unforwarded, ^C would leave cargo and its sandboxes running without us.
            eprintln!("error: cargo-sandbox: cannot forward signal {sig} to cargo: {}", std::io::Error::last_os_error());
            std::process::exit(101);
        }
    }
    let status = match cmd.spawn() {
        Ok(mut child) => {
            CHILD.store(child.id() as i32, Ordering::SeqCst);
            let status = child.wait();
            CHILD.store(0, Ordering::SeqCst);
            status
        }
        Err(e) => Err(e),
    };
    // What cargo wrote (no sandbox can write the target dir's top), believed next time.
    if let Some((file, record)) = &entry.rustc_info {
        match identity(file) {
            Some(found) => {
                let tmp = record.with_extension("tmp");
                let _ = fs::write(&tmp, found).and_then(|_| fs::rename(&tmp, record));
            }
            None => {
                let _ = fs::remove_file(record);
            }
        }
    }
    let ran_scripts = fs::read_dir(&runs).map(|mut d| d.next().is_some()).unwrap_or(true);
    match status {
        Ok(s) if s.success() && !ran_scripts => {
            let _ = fs::remove_dir(&runs);
            std::process::exit(0)
        }
        Ok(s) => {
            let how = match (s.code(), s.signal()) {
                (Some(code), _) => code.to_string(),
                (None, Some(sig)) => format!("-{}", sig),
                _ => "101".into(),
            };
            let mut after = dir.into_os_string();
            after.push("\n");
            after.push(&runs);
            after.push("\n");
            after.push(how);
            node(&args, &[("__CARGO_SANDBOX_AFTER", after)])
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&runs);
            eprintln!("error: could not run cargo: {}", e);
            eprintln!("help: is Rust installed and `cargo` in PATH?");
            std::process::exit(101)
        }
    }
}
