// The direct sandbox builder (shared/direct_sandbox.rs) against bubblewrap, on the same view:
// probes run with /bin/sh inside both assert each property of the view; `cargo test --release
// -- --ignored --nocapture bench` times them (medians of alternating runs).

#![warn(clippy::undocumented_unsafe_blocks)]

use std::ffi::OsString;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

const DIRECT: &str = env!("CARGO_BIN_EXE_direct-sandbox");
const BWRAP: &str = "/usr/bin/bwrap";

/// A workspace with a masked secret file and directory and a planted link to the (hidden) home;
/// a writable output directory; a marker in the host's /tmp the sandbox must not see.
struct Fixture {
    base: PathBuf,
    ws: PathBuf,
    out: PathBuf,
    marker: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let base = std::env::temp_dir().join(format!("direct-sandbox-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (ws, out, home) = (base.join("ws"), base.join("target/out"), base.join("home"));
        for d in [&ws.join("secretdir"), &out, &home] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(home.join("private.txt"), "PRIVATE").unwrap();
        std::fs::write(ws.join("secret.txt"), "SECRET").unwrap();
        std::fs::write(ws.join("secretdir/key"), "SECRET").unwrap();
        std::fs::write(ws.join("lib.rs"), "").unwrap();
        symlink(&home, ws.join("escape")).unwrap();
        let marker = std::env::temp_dir().join(format!("direct-sandbox-marker-{name}-{}", std::process::id()));
        std::fs::write(&marker, "").unwrap();
        Fixture { base, ws, out, marker }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
        let _ = std::fs::remove_file(&self.marker);
    }
}

fn add(a: &mut Vec<OsString>, words: &[&str]) {
    a.extend(words.iter().map(OsString::from));
}

/// What src/backends/bwrap.ts writes for this host (setup.args), then what a launcher adds for
/// one build script, then finish.args. With `toolchain`, the toolchain's and registry's binds too.
fn realistic_view(f: &Fixture, toolchain: bool) -> Vec<OsString> {
    let mut a = vec![];
    add(&mut a, &["--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try", "--disable-userns"]);
    add(&mut a, &["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "cargo-sandbox"]);
    let shown = |a: &mut Vec<OsString>, p: &str| match std::fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_symlink() => add(a, &["--symlink", std::fs::read_link(p).unwrap().to_str().unwrap(), p]),
        Ok(_) => add(a, &["--ro-bind", p, p]),
        Err(_) => {}
    };
    for p in ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt"] {
        shown(&mut a, p);
    }
    add(&mut a, &["--dir", "/etc"]);
    for p in [
        "/etc/ld.so.cache",
        "/etc/ld.so.conf",
        "/etc/ld.so.conf.d",
        "/etc/passwd",
        "/etc/group",
        "/etc/nsswitch.conf",
        "/etc/os-release",
        "/etc/lsb-release",
        "/etc/ssl/certs",
        "/etc/ssl/openssl.cnf",
        "/etc/ca-certificates/extracted",
        "/etc/pki/tls/certs",
        "/etc/crypto-policies",
        "/etc/localtime",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/etc/services",
        "/etc/protocols",
        "/etc/alternatives",
        "/etc/clang",
        "/etc/pkgconfig",
        "/etc/mtab",
    ] {
        shown(&mut a, p);
    }
    add(&mut a, &["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]);
    add(&mut a, &["--ro-bind-try", "/dev/null", "/proc/keys", "--ro-bind-try", "/dev/null", "/proc/key-users"]);
    if toolchain {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        for p in [".rustup", ".cargo/bin", ".cargo/registry", ".cargo/git"] {
            let p = format!("{home}/{p}");
            if Path::new(&p).exists() {
                add(&mut a, &["--ro-bind", &p, &p]);
            }
        }
    }
    let (ws, out) = (f.ws.to_str().unwrap(), f.out.to_str().unwrap());
    add(&mut a, &["--ro-bind", ws, ws, "--bind", out, out]);
    let (secret, secretdir) = (f.ws.join("secret.txt"), f.ws.join("secretdir"));
    add(&mut a, &["--ro-bind", "/dev/null", secret.to_str().unwrap()]);
    add(&mut a, &["--tmpfs", secretdir.to_str().unwrap(), "--remount-ro", secretdir.to_str().unwrap()]);
    add(&mut a, &["--remount-ro", "/", "--unshare-net", "--chdir", out, "--setenv", "PROBE_SET", "yes", "--unsetenv", "PROBE_UNSET"]);
    a
}

/// Whether this kernel lets us make the sandbox (user namespaces, the new mount API): the
/// tests say so and pass where it does not (builds then use bwrap, or nothing).
fn available() -> bool {
    let o = Command::new(DIRECT).args(["--unshare-all", "--ro-bind", "/", "/", "--", "/bin/true"]).output().unwrap();
    if !o.status.success() {
        eprintln!("direct sandbox unavailable here: {}", String::from_utf8_lossy(&o.stderr));
    }
    o.status.success()
}

fn run(builder: &str, view: &[OsString], script: &str) -> Output {
    Command::new(builder).args(view).args(["--", "/bin/sh", "-c", script]).env("PROBE_UNSET", "x").stdin(Stdio::null()).output().unwrap()
}

fn probes(f: &Fixture) -> Vec<(&'static str, String)> {
    let (ws, out, base) = (f.ws.display(), f.out.display(), f.base.display());
    // SAFETY: getuid takes no arguments and cannot fail.
    let uid = unsafe { getuid() };
    vec![
        ("system read-only", "! touch /usr/probe".into()),
        ("root read-only", "! mkdir /probe".into()),
        ("etc read-only", "! touch /etc/probe".into()),
        ("workspace read-only", format!("! touch {ws}/probe")),
        ("out writable", format!("touch {out}/probe && rm {out}/probe")),
        ("tmp writable", "touch /tmp/probe".into()),
        ("tmp private", format!("! test -e {}", f.marker.display())),
        ("home hidden", format!("! test -e {base}/home && ! test -e /root")),
        ("etc secrets hidden", "! test -e /etc/shadow && ! test -e /etc/ssh".into()),
        ("masked file empty", format!("test -z \"$(cat {ws}/secret.txt 2>/dev/null)\" && ! touch {ws}/secret.txt")),
        ("masked dir empty", format!("test -z \"$(ls -A {ws}/secretdir)\" && ! touch {ws}/secretdir/x")),
        ("planted link leads nowhere", format!("! cat {ws}/escape/private.txt")),
        ("proc shows the sandbox's pids", format!("test $$ -le 3 && ! test -e /proc/{} && test $(ls -d /proc/[0-9]* | wc -l) -le 6", std::process::id())),
        ("no network", "test $(grep -c : /proc/net/dev) = 1 && grep -q 'lo:' /proc/net/dev".into()),
        ("no_new_privs", "grep -q 'NoNewPrivs:.1' /proc/self/status".into()),
        ("no capabilities", "grep -q 'CapEff:.0000000000000000' /proc/self/status && grep -q 'CapBnd:.0000000000000000' /proc/self/status".into()),
        ("uid map to itself", format!("test \"$(tr -s ' ' < /proc/self/uid_map)\" = ' {uid} {uid} 1' && test $(id -u) = {uid}")),
        ("setgroups denied", "test \"$(cat /proc/self/setgroups)\" = deny".into()),
        ("hostname", "test \"$(cat /proc/sys/kernel/hostname)\" = cargo-sandbox".into()),
        ("no user namespaces inside", "! unshare -U true".into()),
        // A session led inside the sandbox (0: led outside its pid namespace, as the terminal's is).
        ("new session", "test \"$(cut -d' ' -f6 /proc/$$/stat)\" -ge 1".into()),
        ("minimal dev", "test $(ls /dev | wc -l) -le 16 && echo x > /dev/null && test -c /dev/urandom".into()),
        ("proc/sys read-only", "awk '$5==\"/proc/sys\"{print $6}' /proc/self/mountinfo | grep -q '^ro'".into()),
        ("key lists masked", "test -z \"$(cat /proc/keys 2>/dev/null)\"".into()),
        ("chdir", format!("test \"$(pwd)\" = {out}")),
        ("setenv and unsetenv", "test \"$PROBE_SET\" = yes && test -z \"${PROBE_UNSET+x}\"".into()),
        // Review of issue 29: PID 1 held every capability, was dumpable, and passed on signals sent
        // from inside (a TERM to it reached the program).
        ("PID 1 holds no capability", "grep -q 'CapEff:.0000000000000000' /proc/1/status && grep -q 'CapBnd:.0000000000000000' /proc/1/status".into()),
        ("PID 1 passes no signal from inside on", "kill -USR1 1 2>/dev/null; sleep 0.2".into()),
    ]
}

extern "C" {
    fn getuid() -> u32;
}

/// Each probe's outcome in `builder`'s sandbox.
fn outcomes(builder: &str, f: &Fixture) -> Vec<(&'static str, bool)> {
    let ps = probes(f);
    let script: String = ps.iter().enumerate().map(|(i, (_, p))| format!("if ( {p} ) >/dev/null 2>&1; then echo {i}=ok; else echo {i}=FAIL; fi\n")).collect();
    let o = run(builder, &realistic_view(f, false), &script);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{builder}: {:?}\n{text}\n{}", o.status, String::from_utf8_lossy(&o.stderr));
    ps.iter().enumerate().map(|(i, (name, _))| (*name, text.lines().any(|l| l == format!("{i}=ok")))).collect()
}

#[test]
fn the_direct_view_has_every_property_bubblewrap_has() {
    if !available() {
        return;
    }
    let f = Fixture::new("probes");
    let direct = outcomes(DIRECT, &f);
    let bwrap = if Path::new(BWRAP).exists() { outcomes(BWRAP, &f) } else { vec![] };
    for (i, (name, ok)) in direct.iter().enumerate() {
        eprintln!("{name:32} direct: {:4}  bwrap: {}", if *ok { "ok" } else { "FAIL" }, bwrap.get(i).map_or("-", |b| if b.1 { "ok" } else { "FAIL" }));
    }
    let failed: Vec<_> = direct.iter().filter(|(_, ok)| !ok).map(|(n, _)| *n).collect();
    assert!(failed.is_empty(), "direct: {failed:?}");
}

#[test]
fn a_bind_source_is_never_reached_through_a_symlink() {
    if !available() {
        return;
    }
    let f = Fixture::new("links");
    for src in [f.ws.join("escape"), f.ws.join("escape/private.txt")] {
        let view: Vec<OsString> = ["--ro-bind", "/", "/", "--tmpfs", "/tmp", "--ro-bind", src.to_str().unwrap(), "/tmp/shown"].iter().map(OsString::from).collect();
        let o = run(DIRECT, &view, "cat /tmp/shown/private.txt /tmp/shown");
        assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
        let said = format!("{} is a symbolic link, and the sandbox shows nothing through one", f.ws.join("escape").display());
        assert!(String::from_utf8_lossy(&o.stderr).contains(&said), "{}", String::from_utf8_lossy(&o.stderr));
        // bubblewrap follows it: the planted link shows what it leads to.
        if Path::new(BWRAP).exists() {
            let b = run(BWRAP, &view, "cat /tmp/shown/private.txt 2>/dev/null || cat /tmp/shown");
            eprintln!("bwrap with {}: {:?} {}", src.display(), b.status.code(), String::from_utf8_lossy(&b.stdout));
        }
    }
    // Below a trusted root, its own path may hold links; below it none is followed.
    let trusted = f.base.join("trusted");
    symlink(&f.base, &trusted).unwrap();
    let ok: Vec<OsString> =
        ["--trusted-root", trusted.to_str().unwrap(), "--ro-bind", "/", "/", "--tmpfs", "/tmp", "--ro-bind", trusted.join("ws").to_str().unwrap(), "/tmp/shown"]
            .iter()
            .map(OsString::from)
            .collect();
    let o = run(DIRECT, &ok, "test -e /tmp/shown/lib.rs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bad: Vec<OsString> =
        ["--trusted-root", trusted.to_str().unwrap(), "--ro-bind", "/", "/", "--tmpfs", "/tmp", "--ro-bind", trusted.join("ws/escape").to_str().unwrap(), "/tmp/shown"]
            .iter()
            .map(OsString::from)
            .collect();
    assert_eq!(run(DIRECT, &bad, "true").status.code(), Some(1));
}

#[test]
fn the_sessions_own_binds_follow_the_users_links_and_nothing_else_does() {
    if !available() {
        return;
    }
    // The user's `~/.cargo -> elsewhere`, say: named in the session's file (`--args`), written by
    // our front end, it is followed as bwrap follows it; the same bind on the command line (an entry
    // point's, for one process: a package's directory, a grant) is refused.
    let f = Fixture::new("session-links");
    let linked = f.base.join("linked");
    symlink(&f.ws, &linked).unwrap();
    let bind = ["--ro-bind", linked.to_str().unwrap(), "/tmp/shown"];
    let args_file = f.base.join("setup.args");
    std::fs::write(&args_file, bind.iter().map(|w| format!("{w}\0")).collect::<String>()).unwrap();
    let mut cmd = Command::new(DIRECT);
    cmd.args(["--ro-bind", "/", "/", "--tmpfs", "/tmp", "--args", "3", "--", "/bin/sh", "-c", "test -e /tmp/shown/lib.rs"]);
    let file = std::fs::File::open(&args_file).unwrap();
    use std::os::unix::io::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: dup2 and fcntl in the child between fork and exec, onto descriptor 3 (inherited:
    // F_SETFD 0), from a file that outlives the spawn.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || if (fd == 3 || dup2(fd, 3) == 3) && fcntl(3, 2, 0) == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) });
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let direct: Vec<OsString> = ["--ro-bind", "/", "/", "--tmpfs", "/tmp"].iter().chain(bind.iter()).map(OsString::from).collect();
    assert_eq!(run(DIRECT, &direct, "true").status.code(), Some(1));
}

extern "C" {
    fn dup2(old: i32, new: i32) -> i32;
    fn fcntl(fd: i32, cmd: i32, ...) -> i32;
}

#[test]
fn environment_changes_apply_in_order_and_a_missing_working_directory_stops_it() {
    if !available() {
        return;
    }
    for builder in [DIRECT, BWRAP].into_iter().filter(|b| Path::new(b).exists()) {
        let view: Vec<OsString> = ["--ro-bind", "/", "/", "--setenv", "X", "set", "--unsetenv", "X", "--setenv", "Y", "1"].iter().map(OsString::from).collect();
        let o = run(builder, &view, "echo ${X-unset} $Y");
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "unset 1", "{builder}");
        let view: Vec<OsString> = ["--ro-bind", "/", "/", "--chdir", "/nonexistent-dir"].iter().map(OsString::from).collect();
        assert_eq!(run(builder, &view, "pwd").status.code(), Some(1), "{builder}");
    }
}

#[test]
fn the_links_of_the_root_directory_are_the_systems_layout_and_followed() {
    if !available() {
        return;
    }
    // Merged /usr: /lib is a link only root could make (to usr/lib); a library directory named
    // through it (as pkg-config or a -sys crate names it) is shown.
    let Ok(target) = std::fs::read_link("/lib") else { return };
    let real = Path::new("/").join(target).join("os-release");
    if !real.exists() {
        return;
    }
    let view: Vec<OsString> = ["--ro-bind", "/", "/", "--tmpfs", "/tmp", "--ro-bind", "/lib/os-release", "/tmp/shown"].iter().map(OsString::from).collect();
    let o = run(DIRECT, &view, "grep -q ID= /tmp/shown");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The processes whose command line holds `marker`: (pid, name).
fn processes(marker: &str) -> Vec<(i32, String)> {
    let cmdline = |p: &Path| std::fs::read(p.join("cmdline")).map(|c| String::from_utf8_lossy(&c).contains(marker)).unwrap_or(false);
    let comm = |p: &Path| std::fs::read_to_string(p.join("comm")).unwrap_or_default().trim().to_string();
    std::fs::read_dir("/proc").unwrap().flatten().filter(|e| cmdline(&e.path())).filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, comm(&e.path())))).collect()
}

/// Whether the sandboxed `sleep` holding `marker` still runs.
fn running(marker: &str) -> bool {
    processes(marker).iter().any(|(_, name)| name == "sleep")
}

#[test]
fn the_sandbox_dies_with_its_parent_and_passes_the_status_on() {
    if !available() {
        return;
    }
    for (builder, init) in [(DIRECT, true), (DIRECT, false), (BWRAP, true)] {
        if !Path::new(builder).exists() {
            continue;
        }
        let marker = format!("1000.{}{}", std::process::id(), init as u8);
        let mut view: Vec<OsString> = ["--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc"].iter().map(OsString::from).collect();
        if !init {
            view.push("--as-pid-1".into());
        }
        let o = run(builder, &view, "exit 7");
        assert_eq!(o.status.code(), Some(7), "{builder}: {}", String::from_utf8_lossy(&o.stderr));
        if init {
            // Killed by a signal: 128 + its number, as a shell says (PID 1 itself ignores it).
            assert_eq!(run(builder, &view, "kill -TERM $$").status.code(), Some(128 + 15), "{builder}");
        }
        let mut child = Command::new(builder).args(&view).args(["--", "/bin/sleep", &marker]).spawn().unwrap();
        let start = Instant::now();
        while !running(&marker) && start.elapsed().as_secs() < 5 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        while running(&marker) && start.elapsed().as_secs() < 10 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!running(&marker), "{builder} (init {init}): the sandboxed sleep outlived its parent");
        // What else of the sandbox outlived it (bwrap's own PID 1, seen here): reported, then killed.
        std::thread::sleep(std::time::Duration::from_millis(100));
        for (pid, name) in processes(&marker) {
            eprintln!("{builder} (init {init}): {name} (pid {pid}) outlived the sandbox's parent; killing it");
            extern "C" {
                fn kill(pid: i32, sig: i32) -> i32;
            }
            // SAFETY: kill takes integers only; pid is a process this test started.
            unsafe { kill(pid, 9) };
        }
    }
}

#[path = "direct_sandbox/bench.rs"]
mod bench;
