// Cargo's jobserver, passed into the sandbox: build scripts' `make -j`, `cc` and `cmake`, and
// rustc itself, share cargo's job limit through it. Cargo names it in CARGO_MAKEFLAGS (and make, when
// cargo runs under it, in MAKEFLAGS/MFLAGS) as `--jobserver-auth=R,W` (older: `--jobserver-fds=R,W`),
// two descriptors of a pipe, or `fifo:PATH`. The descriptors cargo picked (often 6 and 7) are
// ones we give other files on the way into bubblewrap, so the pipe moves to descriptors of its own
// (20 and up) and the variables are rewritten to name them; a FIFO is bound into the sandbox at its
// path. Anything that is not a pipe or FIFO is dropped from the variables: no tool inside may
// trust a descriptor that is something else.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

extern "C" {
    fn fcntl(fd: i32, cmd: i32, ...) -> i32;
}
const F_DUPFD: i32 = 0;
const F_SETFD: i32 = 2;
const FD_CLOEXEC: i32 = 1;

const VARIABLES: [&str; 3] = ["CARGO_MAKEFLAGS", "MAKEFLAGS", "MFLAGS"];

/// The copies `pass_through` made (-1: none): the only descriptors beyond 0-2 that what we start
/// may inherit besides the files it is handed on purpose (jail.rs, inherit_fds).
static PASSED: [std::sync::atomic::AtomicI32; 2] = [std::sync::atomic::AtomicI32::new(-1), std::sync::atomic::AtomicI32::new(-1)];

pub(crate) fn passed() -> [i32; 2] {
    PASSED.each_ref().map(|fd| fd.load(std::sync::atomic::Ordering::Relaxed))
}

pub(crate) struct Jobserver {
    /// The variables as the sandboxed program must see them.
    pub env: Vec<(OsString, OsString)>,
    /// A FIFO jobserver, to be bound into the sandbox (and writable there).
    pub fifo: Option<PathBuf>,
}

impl Jobserver {
    /// bwrap's part: the FIFO at its own path.
    pub(crate) fn bwrap_args(&self) -> Vec<OsString> {
        self.fifo.iter().flat_map(|f| ["--bind".into(), f.clone().into_os_string(), f.clone().into_os_string()]).collect()
    }

    /// The variables of `env` (those its filter passed) as rewritten.
    pub(crate) fn rewrite(&self, env: &mut [(OsString, OsString)]) {
        for (name, value) in &self.env {
            if let Some(entry) = env.iter_mut().find(|(k, _)| k == name) {
                entry.1 = value.clone();
            }
        }
    }

    /// The supervisor's part: the FIFO writable under Landlock.
    pub(crate) fn confine_args(&self) -> Vec<OsString> {
        self.fifo.iter().flat_map(|f| ["--write".into(), f.clone().into_os_string()]).collect()
    }
}

/// An open descriptor of a pipe or FIFO (what it leads to, through /proc).
fn is_pipe(fd: i32) -> bool {
    std::fs::metadata(format!("/proc/self/fd/{fd}")).is_ok_and(|m| m.file_type().is_fifo())
}

/// Rewrites the jobserver variables of our environment for the sandbox (see the header).
pub(crate) fn pass_through() -> Jobserver {
    let mut moved: Option<(i32, i32)> = None;
    let mut result = Jobserver { env: vec![], fifo: None };
    for name in VARIABLES {
        let value = match std::env::var(name) {
            Ok(v) => v,
            Err(_) => continue,
        };
        let mut words: Vec<String> = vec![];
        for word in value.split(' ') {
            let auth = word.strip_prefix("--jobserver-auth=").map(|a| ("--jobserver-auth=", a)).or_else(|| word.strip_prefix("--jobserver-fds=").map(|a| ("--jobserver-fds=", a)));
            let (flag, auth) = match auth {
                Some(x) => x,
                None => {
                    words.push(word.to_string());
                    continue;
                }
            };
            if let Some(path) = auth.strip_prefix("fifo:") {
                let fifo = PathBuf::from(path);
                if fifo.is_absolute() && std::fs::symlink_metadata(&fifo).is_ok_and(|m| m.file_type().is_fifo()) && CString::new(fifo.as_os_str().as_bytes()).is_ok() {
                    result.fifo = Some(fifo);
                    words.push(word.to_string());
                }
                continue;
            }
            let fds: Vec<i32> = auth.split(',').filter_map(|f| f.parse().ok()).collect();
            if fds.len() != 2 || !fds.iter().all(|&fd| fd >= 0 && is_pipe(fd)) {
                continue;
            }
            // SAFETY: fcntl(F_DUPFD, F_SETFD) on the jobserver's descriptors takes plain integers; a failure only returns -1.
            let (r, w) = *moved.get_or_insert_with(|| unsafe {
                let copies = (fcntl(fds[0], F_DUPFD, 20), fcntl(fds[1], F_DUPFD, 20));
                // The originals go no further than us: nothing inside is told of them.
                if copies.0 < 0 || copies.1 < 0 || fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0 {
                    crate::die(&format!("cannot hand cargo's jobserver to the sandbox: {}", std::io::Error::last_os_error()));
                }
                PASSED[0].store(copies.0, std::sync::atomic::Ordering::Relaxed);
                PASSED[1].store(copies.1, std::sync::atomic::Ordering::Relaxed);
                copies
            });
            words.push(format!("{flag}{r},{w}"));
        }
        result.env.push((name.into(), words.join(" ").into()));
    }
    result
}
