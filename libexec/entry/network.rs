// The network of one sandboxed process whose package has an `allow-network` list: its own network
// namespace (nothing but loopback), and the filtering proxy (proxy.rs) on the host, reached
// through a Unix socket bound into the sandbox at PROXY_SOCKET. Inside, the supervisor
// (libexec/confine/forward.rs) listens on 127.0.0.1:PORT and relays to that socket, and, for each
// `host:port` entry with a concrete host, listens where a client that ignores proxies will
// connect: the loopback address itself, or 127.0.0.N that an /etc/hosts line (a copy bound over
// the real one) gives the name. Every byte leaves through the proxy, which checks the list.
//
// Host-side files, beside the run's record (BASE = runs/PID or runs/compile-PID):
//   BASE.net/proxy.sock  the proxy's socket        BASE.net/hosts  the sandbox's /etc/hosts
//   BASE.network         the proxy's log: `allowed|refused<TAB>HOST:PORT[<TAB>why]` lines

use std::ffi::OsString;
use std::fs::{self, File};
use std::net::IpAddr;
use std::os::unix::io::{AsRawFd, FromRawFd, IntoRawFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::descriptors::inherit_fds;
use crate::die;
use crate::proxy::{Destination, Host, PROXY_NAME};
use crate::sealed::Sealed;

/// Where the proxy's socket appears inside the sandbox (the private /tmp: a fixed, short path).
const PROXY_SOCKET: &str = "/tmp/.cargo-sandbox-proxy.sock";

/// What the sandbox needs for a proxied network, and the proxy to stop afterwards.
pub(crate) struct ProxiedNetwork {
    /// bwrap: the socket and the hosts file (the namespace itself: `--unshare-net`, as without).
    pub bwrap: Vec<OsString>,
    /// The supervisor's listeners.
    pub confine: Vec<OsString>,
    /// The proxy variables every HTTP client reads.
    pub env: Vec<(OsString, OsString)>,
    proxy: Child,
    dir: PathBuf,
}

impl ProxiedNetwork {
    /// For a caller that outlives the sandbox (a compilation): stop the proxy, remove its files.
    pub(crate) fn stop(mut self) {
        let _ = self.proxy.kill();
        let _ = self.proxy.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Variables that name a proxy, or hosts that bypass it: replaced for a proxied process.
pub(crate) fn proxy_variable(name: &[u8]) -> bool {
    [&b"http_proxy"[..], b"https_proxy", b"all_proxy", b"no_proxy", b"ftp_proxy"].iter().any(|v| name.eq_ignore_ascii_case(v))
}

/// Starts the proxy for `allowed` (`connect=` entries), logging to BASE.network after `header`.
pub(crate) fn start(allowed: &[OsString], base: &Path, header: &[u8]) -> ProxiedNetwork {
    let destinations: Vec<Destination> = allowed.iter().filter_map(|a| a.to_str().and_then(Destination::parse)).collect();
    let dir = base.with_extension("net");
    let _ = fs::remove_dir_all(&dir); // left by a killed run of the same PID
    fs::create_dir_all(&dir).unwrap_or_else(|e| die(&format!("cannot create {}: {e}", dir.display())));
    let log = base.with_extension("network");
    fs::write(&log, header).unwrap_or_else(|e| die(&format!("cannot write {}: {e}", log.display())));
    // Through the directory's descriptor: a socket path must fit 108 bytes, the session's may not.
    let handle = File::open(&dir).unwrap_or_else(|e| die(&format!("cannot open {}: {e}", dir.display())));
    let listener = UnixListener::bind(format!("/proc/self/fd/{}/proxy.sock", handle.as_raw_fd()))
        .unwrap_or_else(|e| die(&format!("cannot create the network proxy's socket in {}: {e}", dir.display())));

    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0(PROXY_NAME).env_clear().stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    cmd.arg("--log").arg(&log);
    for d in &destinations {
        cmd.arg("--allow").arg(format!("{}:{}", d.host.shown(), d.port.map_or("*".to_string(), |p| p.to_string())));
    }
    // SAFETY: into_raw_fd gives up the listener's descriptor, so the File is its only owner.
    inherit_fds(&mut cmd, vec![(unsafe { File::from_raw_fd(listener.into_raw_fd()) }, 3)], None);
    // Gone with the process that started it (or the bwrap that process became).
    crate::lifetime::dies_with_us(&mut cmd);
    let proxy = cmd.spawn().unwrap_or_else(|e| die(&format!("cannot start the network proxy: {e}")));

    let (listen_port, forwards, hosts) = plan(&destinations);
    let mut bwrap: Vec<OsString> = vec!["--ro-bind".into(), dir.join("proxy.sock").into(), PROXY_SOCKET.into()];
    // The names the forwards answer for; only over a real file (bwrap would follow a link).
    if !hosts.is_empty() && fs::symlink_metadata("/etc/hosts").is_ok_and(|m| m.is_file()) {
        let file = dir.join("hosts");
        let mut text = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        for (ip, name) in &hosts {
            text.push_str(&format!("{ip}\t{name}\n"));
        }
        fs::write(&file, text).unwrap_or_else(|e| die(&format!("cannot write {}: {e}", file.display())));
        bwrap.extend(["--ro-bind".into(), file.into_os_string(), "/etc/hosts".into()]);
    }
    let mut confine: Vec<OsString> = vec!["--proxy-socket".into(), PROXY_SOCKET.into(), "--listen-proxy".into(), listen_port.to_string().into()];
    for (listen, target) in forwards {
        confine.extend(["--forward".into(), format!("{listen}={target}").into()]);
    }
    let url = format!("http://127.0.0.1:{listen_port}");
    let env = ["http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"].iter().map(|v| (OsString::from(v), OsString::from(&url))).collect();
    ProxiedNetwork { bwrap, confine, env, proxy, dir }
}

type Pair = (String, String);

/// The proxy's port inside the sandbox, the forwards (`ADDR:PORT` inside, `HOST:PORT` asked of
/// the proxy), and the /etc/hosts lines for names that got a loopback address of their own.
fn plan(destinations: &[Destination]) -> (u16, Vec<Pair>, Vec<Pair>) {
    let mut forwards: Vec<(String, String)> = vec![];
    let mut hosts: Vec<(String, String)> = vec![];
    let mut next = 2u8;
    for d in destinations {
        let port = match d.port {
            // Any port: through the proxy only. A port below 1024 too: the sandboxed process is
            // in a user namespace nested inside the one that owns its network namespace (bwrap's
            // --disable-userns), so no capability lets it bind one, and the sysctl that would
            // (ip_unprivileged_port_start) is out of its reach as well. HTTP(S) clients reach
            // such a destination through the proxy; the name gets no address in /etc/hosts.
            Some(p) if p >= 1024 => p,
            _ => continue,
        };
        let target = format!("{}:{port}", d.host.shown());
        let listen: Vec<String> = match &d.host {
            Host::Name(n) if n == "localhost" => vec![format!("127.0.0.1:{port}"), format!("[::1]:{port}")],
            Host::Ip(ip) if ip.is_loopback() => vec![match ip {
                IpAddr::V6(v6) => format!("[{v6}]:{port}"),
                IpAddr::V4(v4) => format!("{v4}:{port}"),
            }],
            Host::Name(n) => {
                let ip = match hosts.iter().find(|(_, name)| name == n) {
                    Some((ip, _)) => ip.clone(),
                    None if next < 250 => {
                        // 127.0.0.53 is systemd-resolved's address in resolv.conf: never ours.
                        if next == 53 {
                            next += 1;
                        }
                        let ip = format!("127.0.0.{next}");
                        next += 1;
                        hosts.push((ip.clone(), n.clone()));
                        ip
                    }
                    None => continue,
                };
                vec![format!("{ip}:{port}")]
            }
            // Another address than loopback cannot be given to the sandbox's interface (that
            // takes privileges it does not have): reachable through the proxy only.
            _ => continue,
        };
        for l in listen {
            if !forwards.iter().any(|(f, _)| *f == l) {
                forwards.push((l, target.clone()));
            }
        }
    }
    let mut listen_port = 3128u16;
    while forwards.iter().any(|(l, _)| l == &format!("127.0.0.1:{listen_port}")) {
        listen_port += 1;
    }
    (listen_port, forwards, hosts)
}

/// The network of a compilation (rustc, rustdoc): what the proc macros it loads may reach.
/// With a grant, the checked copies of the granted macros' libraries, which rustc loads in their
/// place (sealed.rs).
pub(crate) enum CompileNetwork {
    Off,
    /// Some macro's package has `allow-network = true`.
    Whole(Option<Sealed>),
    /// The union of the macro packages' lists, and the record's header naming them.
    Listed(Vec<OsString>, Vec<u8>, Option<Sealed>),
}

impl CompileNetwork {
    pub(crate) fn sealed(&self) -> Option<&Sealed> {
        match self {
            CompileNetwork::Off => None,
            CompileNetwork::Whole(s) | CompileNetwork::Listed(_, _, s) => s.as_ref(),
        }
    }
}

/// The network the macros one call may load are granted (macro_set.rs says which they are).
pub(crate) fn compile_network(externs: &[PathBuf], dependency_dirs: &[PathBuf], s: &crate::session::Session) -> CompileNetwork {
    // Under `cargo sandbox audit`, a compilation that loads our macros runs behind the proxy even
    // with no list (as build scripts do there): the destinations they try are recorded by name.
    let audit = s.audit.is_some();
    let session = s.dir.as_path();
    let (mut loaded, mut whole) = (false, false);
    let mut listed: Vec<OsString> = vec![];
    let mut header = String::new();
    let mut sealed: Option<Sealed> = None;
    for m in crate::macro_set::loaded_macros(externs, dependency_dirs, session) {
        let pkg = crate::policy::package_policy_of(session, &m.name, &m.version);
        let granted = pkg.network || !pkg.connect.is_empty();
        // A grant only for the bytes we compiled: rustc loads our checked copy (sealed.rs).
        if granted && !sealed.get_or_insert_with(|| Sealed::new(session)).add(&m) {
            continue;
        }
        whole |= pkg.network;
        if granted || audit {
            loaded = true;
            let line = format!("macros\t{}\t{}\n", m.name, m.version);
            if !header.contains(&line) {
                header.push_str(&line);
            }
            listed.extend(pkg.connect.into_iter().filter(|c| !listed.contains(c)).collect::<Vec<_>>());
        }
    }
    let sealed = match sealed {
        Some(s) if s.is_empty() => {
            s.remove();
            None
        }
        s => s,
    };
    if whole {
        return CompileNetwork::Whole(sealed);
    }
    if !loaded {
        return CompileNetwork::Off;
    }
    let compiling = format!("compiling\t{}\t{}\n", std::env::var("CARGO_PKG_NAME").unwrap_or_default(), std::env::var("CARGO_PKG_VERSION").unwrap_or_default());
    CompileNetwork::Listed(listed, [compiling, header].concat().into_bytes(), sealed)
}
