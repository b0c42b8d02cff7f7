// The audit's trace, capped. strace runs outside the sandbox and writes its trace where the traced
// program cannot reach it, but that program decides how much there is to write: a build script
// looping on system calls grew one trace to 433 MiB in 30 s. So whoever starts strace stays its
// parent and watches the file: past the limit, bwrap (strace's child) is killed, and with it the
// sandbox, then strace; the trace is cut back to the limit and `NAME.trace-capped` (holding the
// limit) tells the audit.
// Nothing the traced program does reaches this watch: it only sees the file's size.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

extern "C" {
    fn syscall(number: i64, ...) -> i64;
    fn kill(pid: i32, sig: i32) -> i32;
}
// The same numbers on every architecture (the generic syscall table, Linux 5.1 and 5.3).
const SYS_PIDFD_SEND_SIGNAL: i64 = 424;
const SYS_PIDFD_OPEN: i64 = 434;
const SIGKILL: i32 = 9;

/// 64 MiB, unless the audit's session says otherwise (`cargo sandbox audit --trace-limit`).
const DEFAULT_LIMIT: u64 = 64 << 20;

pub(crate) fn limit(s: &crate::session::Session) -> u64 {
    s.audit_trace_limit.unwrap_or(DEFAULT_LIMIT)
}

pub(crate) fn marker(trace: &Path) -> PathBuf {
    trace.with_extension("trace-capped")
}

/// Watches `trace` while `child` (strace) runs: `finish` once it was waited for.
pub(crate) struct Watch {
    done: Arc<AtomicBool>,
    thread: JoinHandle<bool>,
    trace: PathBuf,
    limit: u64,
}

/// Kills `child` (strace) as soon as `trace` is larger than `limit` bytes.
pub(crate) fn watch(child: &Child, trace: &Path, limit: u64) -> Watch {
    // A pidfd: the signal can never reach another process that got strace's pid after it ended.
    let pid = child.id() as i32;
    // SAFETY: pidfd_open takes plain integers; the pid is our child's, not yet reaped.
    let pidfd = unsafe { syscall(SYS_PIDFD_OPEN, pid, 0) } as i32;
    let done = Arc::new(AtomicBool::new(false));
    let watched = trace.to_path_buf();
    let watching = Arc::clone(&done);
    let thread = std::thread::spawn(move || {
        while !watching.load(Ordering::SeqCst) {
            if fs::metadata(&watched).is_ok_and(|m| m.len() > limit) {
                // The sandbox first: every process below strace, each killed once its own
                // children are known (they are handed to a reaper when it dies), so that
                // nothing of it goes on untraced, whatever bwrap does when its parent dies.
                kill_descendants(pid);
                // SAFETY: pidfd_send_signal and kill take plain integers (and a null info pointer); the pidfd is ours.
                unsafe {
                    if pidfd >= 0 {
                        syscall(SYS_PIDFD_SEND_SIGNAL, pidfd, SIGKILL, 0usize, 0u32);
                    } else if !watching.load(Ordering::SeqCst) {
                        kill(pid, SIGKILL);
                    }
                }
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    });
    Watch { done, thread, trace: trace.to_path_buf(), limit }
}

/// SIGKILL to every process below `pid`, parents before children (at most 10000).
fn kill_descendants(pid: i32) {
    let mut todo = children(pid);
    let mut killed = 0;
    while let Some(p) = todo.pop() {
        let below = children(p);
        // SAFETY: kill takes plain integers.
        unsafe { kill(p, SIGKILL) };
        todo.extend(below);
        killed += 1;
        if killed >= 10000 {
            break;
        }
    }
}

/// The children of every thread of `pid` (the supervisor inside has several).
fn children(pid: i32) -> Vec<i32> {
    let tasks = match fs::read_dir(format!("/proc/{pid}/task")) {
        Ok(t) => t,
        Err(_) => return vec![],
    };
    tasks
        .flatten()
        .flat_map(|t| fs::read_to_string(t.path().join("children")).unwrap_or_default().split_whitespace().filter_map(|c| c.parse().ok()).collect::<Vec<i32>>())
        .collect()
}

impl Watch {
    pub(crate) fn finish(self) {
        self.done.store(true, Ordering::SeqCst);
        if self.thread.join().unwrap_or(false) {
            // strace is gone: nothing writes the trace any more.
            if let Ok(f) = fs::OpenOptions::new().write(true).open(&self.trace) {
                let _ = f.set_len(self.limit);
            }
            let _ = fs::write(marker(&self.trace), self.limit.to_string());
        }
    }
}
