// The supervisor's code (libexec/confine.rs is its binary): what it adds around one sandboxed
// process, below. Also carried by the entry points, which run it in the sandbox without an exec
// when they build the sandbox themselves (entry/in_process.rs).
//
// bubblewrap builds the file-system view; this program, run inside it as the build script's
// parent, adds what a mount namespace cannot say:
//   - a seccomp filter (confine/seccomp.rs): no kernel keyrings, io_uring, bpf, perf events,
//     userfaultfd, module loading, terminal injection; a fresh, empty session keyring;
//   - Landlock (where the kernel has it): writes only beneath OUT_DIR, /tmp and granted paths; no
//     symlinks made outside them; execution only of allowed programs (`allow-exec`); no device
//     ioctls (terminal injection); no signals, ptrace or abstract sockets beyond the script's own
//     processes (this supervisor included); no TCP when the network is not granted.
//   - cargo's directives are checked before cargo sees them: `cargo:rustc-env` must not set a
//     variable that makes rustc or the linker run a program of the script's choosing
//     (LD_PRELOAD, PATH, RUSTUP_TOOLCHAIN, ...): rustc runs on the host with
//     `sandbox.proc-macros = false`, and in the compilation's sandbox, which writes what users run, otherwise.
//   - stdout and stderr are capped (cargo keeps both in memory); so is the disk the script fills
//     (OUT_DIR and /tmp, measured up to twice a second, at a pace set by what a walk costs, and when
//     the output closes: a bound, not a quota; confine/disk.rs).
//   - afterwards, once every process the script left is killed, OUT_DIR is swept (confine/out_dir.rs):
//     symlinks that lead out of it, as written or as resolved, are removed (rustc would follow them,
//     unsandboxed, through include_bytes!), FIFOs, sockets and devices too, and setuid/setgid/
//     world-writable bits dropped.
// Findings go to the report descriptor (a file of the session) as `kind<TAB>subject<TAB>detail`.
//
// Compiled on first use by the rustc that builds the project (no dependency but std), cached.
// Usage: confine [--out DIR] [--report-fd N] [--max-output BYTES] [--max-disk BYTES] [--timeout SECS] [--write PATH]... [--sweep DIR]...
//                [--exec PATH]... [--no-network] [--no-directives] [--pass-output] [--what NAME] [--landlock auto|required]
//                [--links-fd N] (confine/links.rs) [--profile-fd N] (shared/profile.rs)
//                [--proxy-socket PATH --listen-proxy PORT [--forward ADDR:PORT=HOST:PORT]...] (confine/forward.rs)
//                -- PROGRAM [ARGS...]

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[path = "directives.rs"]
mod directives;
#[path = "disk.rs"]
mod disk;
#[path = "forward.rs"]
mod forward;
#[path = "landlock.rs"]
mod landlock;
#[path = "links.rs"]
mod links;
#[path = "options.rs"]
mod options;
#[path = "out_dir.rs"]
mod out_dir;
#[path = "seccomp.rs"]
mod seccomp;
// Shared with the entry points: the crate root (confine.rs, or entry.rs) declares them.
use crate::profile_stamps as profile;
use directives::check_directive;
use disk::DiskWatch;
// (For the binary's `--landlock-abi`; the entry points do not ask.)
#[allow(unused_imports)]
pub(crate) use landlock::landlock_abi;
use landlock::{landlock_ruleset, SYS_LANDLOCK};
use options::{parse_args, Options};

extern "C" {
    fn syscall(num: i64, ...) -> i64;
    fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
    fn poll(fds: *mut PollFd, nfds: u64, timeout: i32) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
    fn signal(sig: i32, handler: usize) -> usize;
    fn raise(sig: i32) -> i32;
    fn open(path: *const i8, flags: i32, ...) -> i32;
    fn close(fd: i32) -> i32;
}

#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

const PR_SET_NO_NEW_PRIVS: i32 = 38;
const PR_SET_DUMPABLE: i32 = 4;
const O_PATH: i32 = 0o10000000;
const O_CLOEXEC: i32 = 0o2000000;

fn die(msg: &str) -> ! {
    eprintln!("error: cargo-sandbox: {msg}");
    std::process::exit(101);
}

struct Report(Option<File>);

impl Report {
    fn add(&mut self, kind: &str, subject: &[u8], detail: &str) {
        if let Some(f) = self.0.as_mut() {
            let clean = |b: &[u8]| b.iter().map(|&c| if c == b'\t' || c == b'\n' { b' ' } else { c }).collect::<Vec<u8>>();
            let mut line = kind.as_bytes().to_vec();
            line.push(b'\t');
            line.extend(clean(subject));
            line.push(b'\t');
            line.extend(clean(detail.as_bytes()));
            line.push(b'\n');
            let _ = f.write_all(&line);
        }
    }
}

/// The supervisor, given its arguments (those after the program's name): starts the program
/// confined, watches it, and exits as it did.
pub(crate) fn run(args: Vec<std::ffi::OsString>) -> ! {
    // The sandbox's namespaces and mounts end here: the first instruction, when profiling.
    let started = args.iter().any(|a| a == "--profile-fd").then(profile::now_ns);
    let o = parse_args(args);
    // Neither the script nor anything it starts may ptrace this process or read its memory.
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) takes plain integers and touches only this process's flags.
    if unsafe { prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        die(&format!("cannot make the supervisor undumpable: {}", std::io::Error::last_os_error()));
    }
    let mut report = Report(o.report_fd.map(|fd| {
        set_cloexec(fd);
        // SAFETY: the descriptor came from our own command line (bwrap's --report-fd, opened by the launcher), is not used elsewhere, and the File takes ownership of it once.
        unsafe { File::from_raw_fd(fd) }
    }));
    let mut stamps = profile::Stamps(o.profile_fd.map(|fd| {
        set_cloexec(fd);
        // SAFETY: the descriptor came from our own command line (--profile-fd, opened by the entry point), is not used elsewhere, and the File takes ownership of it once.
        unsafe { File::from_raw_fd(fd) }
    }));
    stamps.put("supervisor-start", started.unwrap_or(0));
    if let Some(f) = &o.forwarding {
        f.start(die);
    }
    if let Some(fd) = o.links_fd {
        links::make(fd);
    }
    let program = resolve_program(&o.program[0]).unwrap_or_else(|| PathBuf::from(&o.program[0]));
    let ruleset = landlock_ruleset(&o, &program, &mut report);
    if ruleset.is_none() && (o.landlock_required || !o.exec.is_empty()) {
        die("`allow-exec` needs Landlock (Linux 5.13 or later, enabled in the kernel), which this kernel does not offer");
    }

    let mut cmd = Command::new(&o.program[0]);
    cmd.args(&o.program[1..]);
    if !o.pass_output {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let filter = seccomp::prepare();
    // SAFETY: the closure runs in the child between fork and exec; it only calls prctl and the landlock, keyctl and seccomp syscalls, which are async-signal-safe, and allocates nothing (the filter was built before the fork).
    unsafe {
        cmd.pre_exec(move || {
            if let Some(fd) = ruleset {
                if prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(SYS_LANDLOCK[2], fd, 0u32) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            filter.install()
        });
    }
    stamps.mark("program-exec");
    // A failure in the child between fork and exec comes back as its errno only.
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| die(&format!("cannot start {} (confined by Landlock, a seccomp filter and a new session keyring first): {e}", o.program[0].to_string_lossy())));
    if let Some(fd) = ruleset {
        // SAFETY: the ruleset descriptor is ours, and no File or other owner closes it too.
        if unsafe { close(fd) } != 0 {
            die(&format!("cannot close the Landlock ruleset: {}", std::io::Error::last_os_error()));
        }
    }
    let dirs = o.out.iter().chain(&o.sweep).cloned().collect();
    let mut disk = DiskWatch::new(dirs, PathBuf::from("/tmp"), o.max_disk, o.timeout.map(|t| std::time::Instant::now() + t));
    let mut verdict = match (child.stdout.take(), child.stderr.take()) {
        (Some(stdout), Some(stderr)) => pump(stdout, stderr, o.max_output, o.directives, &mut disk, &mut report),
        _ => Ok(()),
    };
    // A script may close its output and go on writing files: keep measuring until it exits.
    // (Its pipes usually close as it exits: the first waits are short.)
    let mut pause = std::time::Duration::from_micros(200);
    let mut last_check = std::time::Instant::now();
    let status = loop {
        if verdict.is_err() {
            // SAFETY: kill takes plain integers; the pid is our child's, which we have not reaped yet.
            if unsafe { kill(child.id() as i32, 9) } != 0 {
                // Unreaped, it cannot be gone: a failure is the supervisor losing its hold.
                die(&format!("cannot stop {}: {}", o.what, std::io::Error::last_os_error()));
            }
            break child.wait();
        }
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(100));
                if last_check.elapsed().as_millis() >= TICK_MS as u128 {
                    verdict = disk.check(&mut report, false);
                    last_check = std::time::Instant::now();
                }
            }
            Err(e) => break Err(e),
        }
    }
    .unwrap_or_else(|e| die(&format!("waiting for {}: {e}", o.what)));
    stamps.mark("program-exit");
    stamps.cpu("program-cpu", profile::CHILDREN);
    if o.out.is_some() || !o.sweep.is_empty() {
        out_dir::kill_leftovers();
    }
    for dir in o.out.iter().chain(&o.sweep) {
        out_dir::sweep_out_dir(dir, dir, &mut report);
    }
    match verdict {
        Err(Stop::Directive(name)) => die(&format!(
            "the build script asked cargo to set `{name}` for rustc (`cargo:rustc-env`), which would make rustc or the linker (outside this build script's sandbox) load or run a program of its choosing, write where it says, or see more than its package; refused"
        )),
        Err(Stop::ArgFile(key)) => die(&format!(
            "the build script gave cargo a `cargo:{key}` value starting with `@`, which rustc would read as a file of more arguments that nobody checked (a linker of the script's choosing, ...); refused"
        )),
        Err(Stop::Output(stream)) => die(&format!(
            "{} wrote more than {} bytes to {stream}; stopped (raise it with `max-output`)",
            o.what, o.max_output
        )),
        Err(Stop::Timeout) => die(&format!(
            "{} ran longer than its timeout of {}s; stopped with everything it started (raise it with `timeout`)",
            o.what, o.timeout.map_or(0.0, |t| t.as_secs_f64())
        )),
        Err(Stop::Disk(used)) => {
            // Its own junk: freed at once, so the disk it filled is given back.
            if let Some(out) = &o.out {
                for e in std::fs::read_dir(out).into_iter().flatten().flatten() {
                    let _ = std::fs::remove_dir_all(e.path()).or_else(|_| std::fs::remove_file(e.path()));
                }
            }
            die(&format!(
            "the files of {} (OUT_DIR and /tmp) grew to {used} bytes, over its limit of {}; stopped (raise it with `max-disk`)",
            o.what, o.max_disk
        ))
        }
        Ok(()) => {}
    }
    stamps.cpu("supervisor-cpu", profile::SELF);
    stamps.mark("supervisor-exit");
    drop(stamps);
    if let Some(sig) = status.signal() {
        let _ = std::io::stdout().flush();
        // SAFETY: signal and raise take plain integers; resetting the handler to the default (0) and raising the signal our child died of ends this process the same way.
        unsafe {
            signal(sig, 0);
            raise(sig);
        }
    }
    std::process::exit(status.code().unwrap_or(101));
}

/// The report descriptor stays ours: the script must not inherit it (it would write findings).
fn set_cloexec(fd: RawFd) {
    extern "C" {
        fn fcntl(fd: i32, cmd: i32, ...) -> i32;
    }
    // SAFETY: fcntl(F_SETFD) on a descriptor number takes plain integers; an invalid one only returns an error.
    if unsafe {
        fcntl(fd, 2 /* F_SETFD */, 1 /* FD_CLOEXEC */)
    } != 0
    {
        die(&format!("the descriptor {fd} handed to the supervisor is unusable: {}", std::io::Error::last_os_error()));
    }
}

fn resolve_program(name: &OsStr) -> Option<PathBuf> {
    if name.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(name));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

// ---- output ----

enum Stop {
    Directive(String),
    /// A directive whose value rustc would read as a file of arguments (`@path`).
    ArgFile(String),
    Output(&'static str),
    Disk(u64),
    Timeout,
}

/// How often the deadline and the disk are looked at (disk.rs: statfs each time, a walk when due):
/// a burst written and deleted between two looks is not seen, so they are close together.
const TICK_MS: i32 = 100;

/// Copies the script's stdout and stderr through, checking cargo directives line by line.
fn pump(stdout: impl Read + AsRawFd, stderr: impl Read + AsRawFd, max: u64, directives: bool, disk: &mut DiskWatch, report: &mut Report) -> Result<(), Stop> {
    let check = |line: Vec<u8>, report: &mut Report| if directives { check_directive(line, report) } else { Ok(line) };
    let mut streams = [(stdout.as_raw_fd(), 1, 0u64, Vec::<u8>::new(), "stdout"), (stderr.as_raw_fd(), 2, 0u64, Vec::new(), "stderr")];
    let mut open_count = 2;
    let mut buf = vec![0u8; 65536];
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let mut last_check = std::time::Instant::now();
    while open_count > 0 {
        let mut fds: Vec<PollFd> = streams.iter().filter(|s| s.0 >= 0).map(|s| PollFd { fd: s.0, events: 1, revents: 0 }).collect();
        // SAFETY: fds is a live Vec of PollFd (repr(C), as poll(2) expects) and its length is passed with it.
        let ready = unsafe { poll(fds.as_mut_ptr(), fds.len() as u64, TICK_MS) };
        if last_check.elapsed().as_millis() >= TICK_MS as u128 {
            disk.check(report, false)?;
            last_check = std::time::Instant::now();
        }
        if ready <= 0 {
            continue; // timeout or EINTR
        }
        for p in fds.iter().filter(|p| p.revents != 0) {
            let s = streams.iter_mut().find(|s| s.0 == p.fd).unwrap();
            // SAFETY: the buffer is a live, writable slice whose length libc_read passes along.
            let n = unsafe { libc_read(s.0, &mut buf) };
            if n <= 0 {
                if s.1 == 1 && !s.3.is_empty() {
                    let rest = check(std::mem::take(&mut s.3), report)?;
                    let _ = out.write_all(&rest);
                }
                s.0 = -1;
                open_count -= 1;
                continue;
            }
            let chunk = &buf[..n as usize];
            s.2 += n as u64;
            if s.2 > max {
                report.add("output", s.4.as_bytes(), &max.to_string());
                return Err(Stop::Output(s.4));
            }
            if s.1 == 2 {
                let _ = err.write_all(chunk);
                continue;
            }
            // stdout: pass whole lines only, each checked.
            s.3.extend_from_slice(chunk);
            while let Some(i) = s.3.iter().position(|&c| c == b'\n') {
                let line = check(s.3.drain(..=i).collect(), report)?;
                let _ = out.write_all(&line);
            }
        }
    }
    let _ = out.flush();
    disk.check(report, true)?;
    drop(stdout);
    drop(stderr);
    Ok(())
}

unsafe fn libc_read(fd: RawFd, buf: &mut [u8]) -> isize {
    extern "C" {
        fn read(fd: i32, buf: *mut u8, n: usize) -> isize;
    }
    loop {
        let n = read(fd, buf.as_mut_ptr(), buf.len());
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(4) {
            continue;
        }
        return n;
    }
}
