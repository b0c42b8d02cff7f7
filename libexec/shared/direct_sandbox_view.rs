// The sandbox's view as data: what bubblewrap's arguments say today (src/backends/bwrap.ts, the
// launchers' additions), one operation per mount or file, applied in order. `from_bwrap_args`
// reads today's argument lists into it, so the two builders can be compared on the same view.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::sys::close_on_exec;

/// One step of the view, in order (a later one may cover an earlier one, as with bwrap).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// The host tree `src` at `dest` (with its submounts), read-only or writable; nosuid, nodev.
    /// With `optional`, a missing source is skipped (bwrap's `-try`). `src` is resolved without
    /// following any symlink (see Source), unless `follow`: a bind of the session's own files
    /// (`--args`), which cargo-sandbox's front end wrote from the user's configuration and the
    /// host (the toolchain, `~/.cargo/bin`, the registry: the user's links, as bwrap follows them).
    /// What an entry point adds per process (a package's directory, its grants, artifacts) never
    /// follows one: a package or a repository could have made it.
    Bind {
        src: PathBuf,
        dest: PathBuf,
        writable: bool,
        optional: bool,
        follow: bool,
    },
    /// A fresh empty tmpfs (mode 0755); read-only at once when `read_only` (a mask over a directory).
    Tmpfs {
        dest: PathBuf,
        read_only: bool,
    },
    /// A minimal /dev: null, zero, full, random, urandom, tty, a private devpts, shm, the fd links.
    Dev {
        dest: PathBuf,
    },
    /// The sandbox's own /proc (its pid namespace), with sys, sysrq-trigger, irq and bus read-only.
    Proc {
        dest: PathBuf,
    },
    Symlink {
        target: PathBuf,
        dest: PathBuf,
    },
    Dir {
        dest: PathBuf,
    },
    /// The mount at `dest` read-only (not its submounts), as bwrap's --remount-ro.
    RemountRo {
        dest: PathBuf,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    pub ops: Vec<Op>,
    /// Keep the host's network namespace (otherwise a new one with only loopback, up).
    pub share_net: bool,
    /// No user namespaces inside (max_user_namespaces 0 in the sandbox's own).
    pub disable_userns: bool,
    pub new_session: bool,
    pub die_with_parent: bool,
    pub hostname: Option<OsString>,
    pub chdir: Option<PathBuf>,
    /// The environment's changes in argument order, as bwrap applies them: a value, or None to unset.
    pub env: Vec<(OsString, Option<OsString>)>,
    /// A PID 1 of ours between the namespace and the program (reaps, forwards signals); without
    /// it the program itself is PID 1 and must do that (see the module's note).
    pub init: bool,
    /// Host directories whose own path may hold symlinks (a home under /var/home, say): a bind
    /// source below one is resolved beneath it, with no symlink below it. Every other source is
    /// resolved with no symlink at all.
    pub trusted: Vec<PathBuf>,
    /// bwrap's --json-status-fd: where the caller writes `{ "exit-code": N }` once the program is
    /// done (the launcher's run record reads it). Never seen by the program.
    pub json_status_fd: Option<i32>,
}

/// Reads bubblewrap arguments (`--args FD` included, as cargo-sandbox writes them) into a view;
/// returns it and the command after them. Only the options cargo-sandbox uses are understood.
pub fn from_bwrap_args(args: &[OsString]) -> Result<(View, Vec<OsString>), String> {
    let mut v = View { share_net: true, init: true, ..View::default() };
    let mut queue: std::collections::VecDeque<OsString> = args.iter().cloned().collect();
    // Inside an `--args` file (the session's own), between these two markers of ours: a NUL
    // byte, which no argument and no word of such a file can hold.
    let (begin, end) = (OsString::from("\0session-args"), OsString::from("\0end-session-args"));
    let mut in_session = 0usize;
    while let Some(a) = queue.pop_front() {
        if a == begin || a == end {
            in_session = if a == begin { in_session + 1 } else { in_session - 1 };
            continue;
        }
        let mut take = |n: usize| -> Result<Vec<OsString>, String> {
            // An option's values never run past the end of the file it is in.
            if queue.len() < n || queue.iter().take(n).any(|w| w.as_bytes().first() == Some(&0)) {
                return Err(format!("{} needs {n} argument(s)", a.to_string_lossy()));
            }
            Ok(queue.drain(..n).collect())
        };
        let p = |s: &OsString| PathBuf::from(s);
        match a.as_bytes() {
            b"--" => return Ok((v, queue.into_iter().collect())),
            b"--args" => {
                let fd = take(1)?[0].to_string_lossy().parse::<i32>().map_err(|e| format!("--args: {e}"))?;
                let bytes = std::fs::read(format!("/proc/self/fd/{fd}")).map_err(|e| format!("--args {fd}: {e}"))?;
                // Read once, here: the program inside never gets it.
                close_on_exec(fd).map_err(|e| format!("--args {fd}: {e}"))?;
                let words: Vec<OsString> = bytes.split(|b| *b == 0).filter(|w| !w.is_empty()).map(|w| OsStr::from_bytes(w).to_os_string()).collect();
                queue.push_front(end.clone());
                for w in words.into_iter().rev() {
                    queue.push_front(w);
                }
                queue.push_front(begin.clone());
            }
            b"--unshare-user" | b"--unshare-ipc" | b"--unshare-pid" | b"--unshare-uts" | b"--unshare-cgroup" | b"--unshare-cgroup-try" => {}
            b"--unshare-net" | b"--unshare-all" => v.share_net = false,
            b"--share-net" => v.share_net = true,
            b"--disable-userns" => v.disable_userns = true,
            b"--die-with-parent" => v.die_with_parent = true,
            b"--new-session" => v.new_session = true,
            b"--as-pid-1" => v.init = false,
            b"--json-status-fd" => {
                let fd = take(1)?[0].to_string_lossy().parse::<i32>().map_err(|e| format!("--json-status-fd: {e}"))?;
                close_on_exec(fd).map_err(|e| format!("--json-status-fd {fd}: {e}"))?;
                v.json_status_fd = Some(fd);
            }
            b"--trusted-root" => v.trusted.push(p(&take(1)?[0])),
            b"--cap-drop" => {
                if take(1)?[0] != "ALL" {
                    return Err("only --cap-drop ALL is understood".into());
                }
            }
            b"--hostname" => v.hostname = Some(take(1)?.remove(0)),
            b"--chdir" => v.chdir = Some(p(&take(1)?[0])),
            b"--setenv" => {
                let kv = take(2)?;
                v.env.push((kv[0].clone(), Some(kv[1].clone())));
            }
            b"--unsetenv" => v.env.push((take(1)?.remove(0), None)),
            b"--ro-bind" | b"--ro-bind-try" | b"--bind" | b"--bind-try" => {
                let sd = take(2)?;
                let writable = a.as_bytes().starts_with(b"--bind");
                let optional = a.as_bytes().ends_with(b"-try");
                v.ops.push(Op::Bind { src: p(&sd[0]), dest: p(&sd[1]), writable, optional, follow: in_session > 0 });
            }
            b"--tmpfs" => v.ops.push(Op::Tmpfs { dest: p(&take(1)?[0]), read_only: false }),
            b"--dev" => v.ops.push(Op::Dev { dest: p(&take(1)?[0]) }),
            b"--proc" => v.ops.push(Op::Proc { dest: p(&take(1)?[0]) }),
            b"--dir" => v.ops.push(Op::Dir { dest: p(&take(1)?[0]) }),
            b"--symlink" => {
                let td = take(2)?;
                v.ops.push(Op::Symlink { target: p(&td[0]), dest: p(&td[1]) });
            }
            b"--remount-ro" => {
                let dest = p(&take(1)?[0]);
                // bwrap's mask over a directory: a tmpfs, then read-only. One read-only tmpfs here.
                match v.ops.last_mut() {
                    Some(Op::Tmpfs { dest: d, read_only }) if *d == dest => *read_only = true,
                    _ => v.ops.push(Op::RemountRo { dest }),
                }
            }
            _ => return Err(format!("unknown or unsupported option {}", a.to_string_lossy())),
        }
    }
    Err("no command after the options".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn reads_bubblewrap_arguments() {
        let a = os(&["--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr", "--tmpfs", "/m", "--remount-ro", "/m", "--remount-ro", "/", "--", "/bin/true"]);
        let (v, cmd) = from_bwrap_args(&a).unwrap();
        assert!(!v.share_net && v.die_with_parent && v.init);
        assert_eq!(cmd, os(&["/bin/true"]));
        assert_eq!(
            v.ops,
            vec![
                Op::Bind { src: "/usr".into(), dest: "/usr".into(), writable: false, optional: false, follow: false },
                Op::Tmpfs { dest: "/m".into(), read_only: true },
                Op::RemountRo { dest: "/".into() },
            ]
        );
        assert!(from_bwrap_args(&os(&["--seccomp", "3", "--", "x"])).is_err());
        assert!(from_bwrap_args(&os(&["--bind", "/a"])).is_err());
        // Only what an `--args` file says follows links (its reader is exercised in tests/direct_sandbox.rs).
        let (v, _) = from_bwrap_args(&os(&["--ro-bind", "/a", "/b", "--", "x"])).unwrap();
        assert!(matches!(v.ops[0], Op::Bind { follow: false, .. }));
    }
}
