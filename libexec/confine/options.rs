// The supervisor's command line, as the launcher and the rustc wrapper build it from the session's
// policy (libexec/entry/launch.rs, jail.rs). A flag without its value, or a number that does not
// parse, stops the supervisor: a limit never falls back to "none".

use std::ffi::OsString;
use std::os::unix::io::RawFd;
use std::path::PathBuf;

use super::{die, forward};

pub(crate) struct Options {
    pub(crate) out: Option<PathBuf>,
    pub(crate) report_fd: Option<RawFd>,
    pub(crate) max_output: u64,
    pub(crate) max_disk: u64,
    pub(crate) timeout: Option<std::time::Duration>,
    pub(crate) write: Vec<PathBuf>,
    /// Writable directories of ours swept afterwards like OUT_DIR, and counted in max-disk (a
    /// compilation's incremental or documentation directory, a test's CARGO_TARGET_TMPDIR).
    pub(crate) sweep: Vec<PathBuf>,
    pub(crate) exec: Vec<OsString>,
    pub(crate) no_network: bool,
    /// An `allow-network` list: the listeners that lead to the host's filtering proxy.
    pub(crate) forwarding: Option<forward::Forwarding>,
    pub(crate) landlock_required: bool,
    /// Who runs, for messages: "the build script", or e.g. "rustc" (`--what`).
    pub(crate) what: String,
    /// Check cargo directives on stdout (a build script's); off for rustc (`--no-directives`).
    pub(crate) directives: bool,
    /// Leave stdout and stderr to the program (a test binary's: a terminal, uncapped).
    pub(crate) pass_output: bool,
    /// The views of a granted compilation to make before it starts (`--links-fd`, confine/links.rs).
    pub(crate) links_fd: Option<RawFd>,
    /// Where this supervisor appends its stages (shared/profile.rs), when the session profiles.
    pub(crate) profile_fd: Option<RawFd>,
    pub(crate) program: Vec<OsString>,
}

/// A flag's value as a number; one that does not parse stops the process (it never means "no limit").
fn number<T: std::str::FromStr>(flag: &std::ffi::OsStr, value: std::ffi::OsString) -> T {
    value.to_str().and_then(|v| v.parse().ok()).unwrap_or_else(|| die(&format!("confine: {} takes a number, not {:?}", flag.to_string_lossy(), value)))
}

pub(crate) fn parse_args(args: Vec<std::ffi::OsString>) -> Options {
    let mut o = Options {
        out: None,
        report_fd: None,
        max_output: u64::MAX,
        max_disk: u64::MAX,
        timeout: None,
        write: vec![],
        sweep: vec![],
        exec: vec![],
        no_network: false,
        forwarding: None,
        landlock_required: false,
        what: "the build script".to_string(),
        directives: true,
        pass_output: false,
        links_fd: None,
        profile_fd: None,
        program: vec![],
    };
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| die(&format!("confine: {} needs a value", a.to_string_lossy())));
        match a.to_str() {
            Some("--out") => o.out = Some(PathBuf::from(value())),
            Some("--report-fd") => o.report_fd = Some(number(&a, value())),
            Some("--max-output") => o.max_output = number(&a, value()),
            Some("--timeout") => {
                let seconds: f64 = number(&a, value());
                if !(seconds.is_finite() && seconds > 0.0) {
                    die("confine: --timeout takes a positive number of seconds");
                }
                o.timeout = Some(std::time::Duration::from_secs_f64(seconds));
            }
            Some("--max-disk") => o.max_disk = number(&a, value()),
            Some("--write") => o.write.push(PathBuf::from(value())),
            Some("--sweep") => {
                let dir = PathBuf::from(value());
                o.write.push(dir.clone());
                o.sweep.push(dir);
            }
            Some("--exec") => o.exec.push(value()),
            Some("--no-network") => o.no_network = true,
            Some("--proxy-socket") => o.forwarding = Some(forward::Forwarding { socket: PathBuf::from(value()), proxy_port: None, forwards: vec![] }),
            Some("--listen-proxy") => {
                let port = number(&a, value());
                o.forwarding.as_mut().unwrap_or_else(|| die("confine: --listen-proxy needs --proxy-socket first")).proxy_port = Some(port);
            }
            Some("--forward") => {
                let v = value().to_string_lossy().into_owned();
                let (listen, target) = v.split_once('=').unwrap_or_else(|| die("confine: --forward takes ADDR:PORT=HOST:PORT"));
                let listen = listen.parse().unwrap_or_else(|_| die(&format!("confine: bad address {listen}")));
                o.forwarding.as_mut().unwrap_or_else(|| die("confine: --forward needs --proxy-socket first")).forwards.push((listen, target.to_string()));
            }
            Some("--landlock") => o.landlock_required = value() == "required",
            Some("--what") => o.what = value().to_string_lossy().into_owned(),
            Some("--no-directives") => o.directives = false,
            Some("--pass-output") => o.pass_output = true,
            Some("--links-fd") => o.links_fd = Some(number(&a, value())),
            Some("--profile-fd") => o.profile_fd = Some(number(&a, value())),
            Some("--") => {
                o.program = args.collect();
                break;
            }
            _ => die(&format!("confine: unknown argument {}", a.to_string_lossy())),
        }
    }
    if o.program.is_empty() {
        die("confine: no program to run");
    }
    o
}
