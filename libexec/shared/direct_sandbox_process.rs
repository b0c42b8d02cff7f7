// The processes: the caller clones the sandbox's first process into new namespaces; that process
// maps its ids, builds the view, pivots into it, and then either stays as PID 1 (reaping, passing
// signals on, exiting with the program's status: the kernel then kills whatever is left) and
// starts the program, or becomes the program itself (View::init false).

use super::in_process::{self, InProcess};
use super::mounts;
use super::sys::{self, *};
use super::view::View;
use std::ffi::OsString;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

extern "C" {
    fn getuid() -> u32;
    fn getgid() -> u32;
    fn getppid() -> i32;
    fn pipe2(fds: *mut i32, flags: i32) -> i32;
    fn poll(fds: *mut PollFd, n: u64, timeout: i32) -> i32;
    fn close(fd: i32) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
    fn signal(sig: i32, handler: usize) -> usize;
    fn sigemptyset(set: *mut SigSet) -> i32;
    fn sigaddset(set: *mut SigSet, sig: i32) -> i32;
    fn sigprocmask(how: i32, set: *const SigSet, old: *mut SigSet) -> i32;
    fn sigwaitinfo(set: *const SigSet, info: *mut [u64; 16]) -> i32;
    fn socket(domain: i32, kind: i32, protocol: i32) -> i32;
    fn ioctl(fd: i32, request: u64, ...) -> i32;
    fn _exit(code: i32) -> !;

    fn read(fd: i32, buf: *mut u8, n: usize) -> isize;
    fn write(fd: i32, buf: *const u8, n: usize) -> isize;
}

#[repr(C)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

#[repr(C)]
struct SigSet([u64; 16]);

/// What PID 1 passes on to the program; SIGCHLD wakes it to reap.
const FORWARDED: [i32; 9] = [1, 2, 3, 10, 12, 14, 15, 18, 28]; // HUP INT QUIT USR1 USR2 ALRM TERM CONT WINCH
const SIGCHLD: i32 = 17;

extern "C" fn ignore(_: i32) {}

/// The sender's pid in a siginfo_t (si_pid, after si_signo, si_errno, si_code and padding): 0 for
/// a process outside this pid namespace, or the kernel.
fn sender(info: &[u64; 16]) -> i32 {
    (info[2] & 0xffff_ffff) as u32 as i32
}

/// An exit status as a shell reports it: the code, or 128 + the signal.
pub fn code(status: i32) -> i32 {
    if status & 0x7f == 0 {
        (status >> 8) & 0xff
    } else {
        128 + (status & 0x7f)
    }
}

/// Runs `program` in the view and returns its exit code (128 + signal), or why the sandbox could
/// not be made. The caller must be single-threaded (the clone copies it as fork does).
pub fn run(view: &View, program: &[OsString], in_process: Option<&InProcess>) -> Result<i32, String> {
    if view.die_with_parent {
        // As bwrap's --die-with-parent: this process too dies with its parent (cargo, or the entry
        // point), and PID 1 with this one, and every process of the sandbox with PID 1.
        // SAFETY: getppid takes no arguments and cannot fail.
        let parent = unsafe { getppid() };
        sys::prctl_set(PR_SET_PDEATHSIG, 9).map_err(|e| format!("PR_SET_PDEATHSIG: {e}"))?;
        // SAFETY: as above.
        if unsafe { getppid() } != parent {
            return Err("the process that started the sandbox is gone".into());
        }
    }
    let (uid, gid) = (
        // SAFETY: getuid and getgid take no arguments and cannot fail.
        unsafe { getuid() },
        // SAFETY: as above.
        unsafe { getgid() },
    );
    // The parent holds the write end for its whole life: the child sees it close if the parent
    // died before PR_SET_PDEATHSIG took effect.
    let mut alive = [-1i32; 2];
    // SAFETY: alive has room for the two descriptors pipe2 writes.
    if unsafe { pipe2(alive.as_mut_ptr(), O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // PID 1 sends the program's status here before it exits: its exit (the namespaces' teardown,
    // ~1 ms) is then not waited for, as bwrap does not wait for it either.
    let mut status_pipe = [-1i32; 2];
    // SAFETY: status_pipe has room for the two descriptors pipe2 writes.
    if unsafe { pipe2(status_pipe.as_mut_ptr(), O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    let mut flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
    if !view.share_net {
        flags |= CLONE_NEWNET;
    }
    let pid = sys::clone_into(flags).map_err(|e| format!("cannot make the namespaces: {e}"))?;
    if pid == 0 {
        // SAFETY: the write end of `alive` and the read end of the status pipe are the parent's.
        unsafe { (close(alive[1]), close(status_pipe[0])) };
        let err = sandbox(view, program, uid, gid, alive[0], status_pipe[1], in_process);
        eprintln!("error: cargo-sandbox: cannot build the sandbox: {err}");
        // SAFETY: leaves at once, as a failed child of a fork should.
        unsafe { _exit(1) }
    }
    // SAFETY: the read end of `alive` and the write end of the status pipe are the child's.
    unsafe { (close(alive[0]), close(status_pipe[1])) };
    let mut sent = [0u8; 4];
    let n = loop {
        // SAFETY: sent is a live 4-byte buffer; EOF (PID 1 failed, or is the program) leaves it unread.
        let n = unsafe { read(status_pipe[0], sent.as_mut_ptr(), 4) };
        if n >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(4) {
            break n;
        }
    };
    // SAFETY: our read end, no longer needed.
    unsafe { close(status_pipe[0]) };
    if n == 4 {
        // PID 1 is exiting; reaped here if it is done, else by whoever inherits it when we exit.
        // SAFETY: status is a live i32; WNOHANG (1).
        unsafe { (waitpid(pid, &mut 0, 1), close(alive[1])) };
        return Ok(i32::from_ne_bytes(sent));
    }
    let mut status = 0;
    loop {
        // SAFETY: status is a live i32; pid is our child.
        let r = unsafe { waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(4) {
            return Err(format!("waitpid: {}", std::io::Error::last_os_error()));
        }
    }
    // SAFETY: our write end, no longer needed.
    unsafe { close(alive[1]) };
    Ok(code(status))
}

/// The sandbox's first process (PID 1 of its namespace): returns only with an error.
fn sandbox(view: &View, program: &[OsString], uid: u32, gid: u32, alive: i32, status: i32, in_process: Option<&InProcess>) -> String {
    match setup(view, uid, gid, alive) {
        Err(e) => e,
        Ok(()) if !view.init => exec(view, program, false, in_process),
        Ok(()) => init(view, program, status, in_process),
    }
}

fn setup(view: &View, uid: u32, gid: u32, alive: i32) -> Result<(), String> {
    if view.die_with_parent {
        sys::prctl_set(PR_SET_PDEATHSIG, 9).map_err(|e| format!("PR_SET_PDEATHSIG: {e}"))?;
        let mut p = PollFd { fd: alive, events: 0, revents: 0 };
        // SAFETY: p is one live pollfd; a zero timeout only asks whether the pipe was closed.
        if unsafe { poll(&mut p, 1, 0) } != 0 {
            // SAFETY: the parent is gone; nothing of ours needs cleaning up.
            unsafe { _exit(1) }
        }
    }
    // SAFETY: our read end, checked above.
    unsafe { close(alive) };
    let write = |path: &str, data: String| std::fs::write(path, data).map_err(|e| format!("{path}: {e}"));
    write("/proc/self/setgroups", "deny".into())?;
    write("/proc/self/uid_map", format!("{uid} {uid} 1"))?;
    write("/proc/self/gid_map", format!("{gid} {gid} 1"))?;
    if view.disable_userns {
        // The limit of this user namespace, which counts every one made below it.
        write("/proc/sys/user/max_user_namespaces", "0".into())?;
    }
    if let Some(name) = &view.hostname {
        use std::os::unix::ffi::OsStrExt;
        sys::set_hostname(name.as_bytes()).map_err(|e| format!("sethostname: {e}"))?;
    }
    if !view.share_net {
        loopback_up()?;
    }
    let root = mounts::build(view)?;
    sys::pivot_into(root.as_raw_fd()).map_err(|e| format!("pivot_root: {e}"))
}

/// Brings up `lo` in the new network namespace (the supervisor's proxy listens there).
fn loopback_up() -> Result<(), String> {
    const SIOCGIFFLAGS: u64 = 0x8913;
    const SIOCSIFFLAGS: u64 = 0x8914;
    let mut ifreq = [0u8; 40];
    ifreq[..2].copy_from_slice(b"lo");
    // SAFETY: socket takes integers only.
    let s = unsafe {
        socket(2 /* AF_INET */, 2 /* SOCK_DGRAM */ | O_CLOEXEC, 0)
    };
    // SAFETY: ifreq is a live 40-byte struct ifreq (name, then the flags at offset 16).
    let ok = s >= 0 && unsafe { ioctl(s, SIOCGIFFLAGS, ifreq.as_mut_ptr()) } == 0 && {
        ifreq[16] |= 1; // IFF_UP
                        // SAFETY: as above.
        unsafe { ioctl(s, SIOCSIFFLAGS, ifreq.as_mut_ptr()) == 0 }
    };
    let err = std::io::Error::last_os_error();
    if s >= 0 {
        // SAFETY: our socket.
        unsafe { close(s) };
    }
    if ok {
        Ok(())
    } else {
        Err(format!("cannot bring up lo: {err}"))
    }
}

/// No capabilities (the bounding set included) and no new privileges, for this process and all it starts.
fn lock_down() -> Result<(), String> {
    sys::drop_capabilities().map_err(|e| format!("cannot drop the capabilities: {e}"))?;
    sys::prctl_set(PR_SET_NO_NEW_PRIVS, 1).map(drop).map_err(|e| format!("PR_SET_NO_NEW_PRIVS: {e}"))
}

/// Becomes the program: new session, working directory, environment, no capabilities (dropped
/// already by PID 1 when `locked`), no new privileges.
fn exec(view: &View, program: &[OsString], locked: bool, in_process: Option<&InProcess>) -> String {
    if view.new_session {
        if let Err(e) = sys::new_session() {
            return format!("setsid: {e}");
        }
    }
    // As bwrap: a --chdir that cannot be entered stops it; without one, where we were, if shown.
    let cwd = match &view.chdir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().ok().filter(|d| d.is_dir()).unwrap_or_else(|| "/".into()),
    };
    if let Err(e) = std::env::set_current_dir(&cwd) {
        return format!("cannot enter {}: {e}", cwd.display());
    }
    if !locked {
        if let Err(e) = lock_down() {
            return e;
        }
    }
    if let Some(carried) = in_process.filter(|c| program[0] == c.path) {
        return in_process::become_program(carried, view, program);
    }
    let mut cmd = Command::new(&program[0]);
    cmd.args(&program[1..]);
    for (name, value) in &view.env {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    format!("cannot run {}: {}", program[0].to_string_lossy(), cmd.exec())
}

/// PID 1: starts the program, passes signals on to it, reaps every child, and exits with the
/// program's status once it is gone (the kernel kills what remains of the namespace).
fn init(view: &View, program: &[OsString], status_fd: i32, in_process: Option<&InProcess>) -> String {
    // The name the supervisor checks before it kills what the program left (confine/out_dir.rs).
    if let Err(e) = sys::set_name(c"sandbox-init") {
        return format!("PR_SET_NAME: {e}");
    }
    // PID 1 needs no privilege to reap and pass signals on: none is left for the program to reach
    // (it could not ptrace a process holding capabilities it lacks, but nothing is kept to try),
    // and its /proc files are root's (PR_SET_DUMPABLE 0).
    if let Err(e) = lock_down().and_then(|()| sys::prctl_set(PR_SET_DUMPABLE, 0).map(drop).map_err(|e| format!("PR_SET_DUMPABLE: {e}"))) {
        return e;
    }
    let mut set = SigSet([0; 16]);
    let mut old = SigSet([0; 16]);
    // SAFETY: set and old are live sigset_t-sized buffers; the handler is a plain extern "C" fn.
    // PID 1 gets a signal from outside only if it has a handler: hence `ignore`, then blocked.
    unsafe {
        sigemptyset(&mut set);
        for s in FORWARDED.iter().chain([SIGCHLD].iter()) {
            sigaddset(&mut set, *s);
            signal(*s, ignore as *const () as usize);
        }
        sigprocmask(0 /* SIG_BLOCK */, &set, &mut old);
    }
    let child = match sys::clone_into(0) {
        Ok(0) => {
            // SAFETY: old is the mask saved above; the handlers reset at exec.
            unsafe {
                sigprocmask(2 /* SIG_SETMASK */, &old, std::ptr::null_mut())
            };
            let _ = sys::prctl_set(PR_SET_PDEATHSIG, 9);
            return exec(view, program, true, in_process);
        }
        Ok(pid) => pid,
        Err(e) => return format!("fork: {e}"),
    };
    loop {
        let mut info = [0u64; 16];
        // SAFETY: set is the blocked set; info is a live siginfo_t-sized buffer.
        let sig = unsafe { sigwaitinfo(&set, &mut info) };
        if sig == SIGCHLD {
            loop {
                let mut status = 0;
                // SAFETY: status is a live i32; WNOHANG (1) reaps whichever child has exited.
                let pid = unsafe { waitpid(-1, &mut status, 1) };
                if pid == child {
                    let c = code(status);
                    // SAFETY: c is a live i32, written whole (a pipe write of 4 bytes is atomic).
                    unsafe { write(status_fd, c.to_ne_bytes().as_ptr(), 4) };
                    std::process::exit(c);
                }
                if pid <= 0 {
                    break;
                }
            }
        } else if sig > 0 && sender(&info) == 0 {
            // Only what comes from outside the sandbox (its sender has no pid in this namespace),
            // as bwrap's PID 1 passes nothing from inside on.
            // SAFETY: kill takes integers only; child is our program.
            unsafe { kill(child, sig) };
        }
    }
}
