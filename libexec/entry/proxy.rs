// The filtering proxy of one sandboxed process whose package has an `allow-network` list
// (network.rs starts it). It runs on the host — the sandbox has no network of its own — and is
// the only way out: an HTTP proxy on a Unix socket that the supervisor inside the sandbox relays
// to (`http_proxy` for curl, reqwest, ureq, git; plain TCP forwards for database drivers).
//
//   CONNECT host:port   tunnelled when the list allows host:port; TLS passes untouched.
//   GET http://host/... forwarded (as origin-form, `Connection: close`) when the list allows it.
// A request whose Host header names another host than its target is refused: the destination is
// decided once, by the target, and the request cannot claim another. Names are resolved here;
// the sandbox gets no DNS. Each decision is one line of the log (`allowed`/`refused`, HOST:PORT,
// why), written once and at most MAX_RECORDED of them, which cargo-sandbox reads for its notes and
// `cargo sandbox audit`.
//
// Started as `/proc/self/exe` under the name `cargo-sandbox-network-proxy`, with an empty
// environment: the resolver may load NSS modules, and cargo's LD_LIBRARY_PATH (build scripts'
// OUT_DIRs) must not be where it looks. It listens on fd 3 and dies with the process that
// started it (PR_SET_PDEATHSIG); it keeps nothing between runs.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::io::FromRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The program name the launcher gives this mode.
pub(crate) const PROXY_NAME: &str = "cargo-sandbox-network-proxy";
/// The request head (request line and headers) must fit; real clients send a few hundred bytes.
const MAX_HEAD: usize = 16 * 1024;
/// Connections open at once; past it, new ones are refused.
const MAX_CONNECTIONS: usize = 256;
/// A name of 253 characters, `:` and a port: no real target is longer.
const MAX_TARGET: usize = 260;
/// Distinct decisions recorded (about 0.5 MB at most); past it, one `truncated` line.
const MAX_RECORDED: usize = 1000;
/// The log's last line when decisions were left out (network-records.ts reads it).
const TRUNCATED: &str = "truncated";

/// One `allow-network` entry (`connect=` in the policy): a host, `*.domain`, or an IP literal,
/// and a port or any.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Destination {
    pub host: Host,
    pub port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Host {
    Name(String),
    /// `*.example.com`: any name strictly below `example.com` (stored without `*.`).
    Below(String),
    Ip(IpAddr),
}

impl Destination {
    /// `host:port`, `host:*`, `[v6]:port` as cargo-sandbox writes them.
    pub(crate) fn parse(entry: &str) -> Option<Destination> {
        let (host, port) = entry.rsplit_once(':')?;
        let port = if port == "*" { None } else { Some(port.parse::<u16>().ok().filter(|&p| p > 0)?) };
        Some(Destination { host: Host::parse(host)?, port })
    }

    pub(crate) fn allows(&self, host: &Host, port: u16) -> bool {
        self.port.map_or(true, |p| p == port)
            && match (&self.host, host) {
                (Host::Name(a), Host::Name(b)) => a == b,
                (Host::Below(domain), Host::Name(b)) => b.len() > domain.len() + 1 && b.ends_with(domain.as_str()) && b.as_bytes()[b.len() - domain.len() - 1] == b'.',
                (Host::Ip(a), Host::Ip(b)) => a == b,
                _ => false,
            }
    }
}

impl Host {
    /// A DNS name (lowercased, one trailing dot dropped), `*.name`, an IPv4 literal, or an IPv6
    /// literal in brackets. Nothing else: the resolver never sees an unusual spelling.
    pub(crate) fn parse(text: &str) -> Option<Host> {
        if let Some(v6) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            return v6.parse::<std::net::Ipv6Addr>().ok().map(|a| Host::Ip(IpAddr::V6(a)));
        }
        if let Ok(v4) = text.parse::<std::net::Ipv4Addr>() {
            return Some(Host::Ip(IpAddr::V4(v4)));
        }
        let lower = text.to_ascii_lowercase();
        let (below, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        let name = name.strip_suffix('.').unwrap_or(name);
        let label_ok = |l: &str| !l.is_empty() && l.len() <= 63 && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
        // All-numeric names (`2130706433`, `0x7f.1`) are IP addresses to the resolver: refused.
        let numeric = name.split('.').next_back().map_or(true, |l| l.bytes().all(|c| c.is_ascii_digit()) || l.starts_with("0x"));
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) || numeric {
            return None;
        }
        Some(if below { Host::Below(name.to_string()) } else { Host::Name(name.to_string()) })
    }

    fn resolvable(&self) -> String {
        match self {
            Host::Name(n) | Host::Below(n) => n.clone(),
            Host::Ip(ip) => ip.to_string(),
        }
    }

    pub(crate) fn shown(&self) -> String {
        match self {
            Host::Name(n) => n.clone(),
            Host::Below(n) => format!("*.{n}"),
            Host::Ip(IpAddr::V6(a)) => format!("[{a}]"),
            Host::Ip(ip) => ip.to_string(),
        }
    }
}

struct Proxy {
    allowed: Vec<Destination>,
    log: Mutex<Log>,
    open: AtomicUsize,
}

/// The record cargo-sandbox reads after the run: each decision once, and a bounded number of them
/// (the sandboxed process chooses the destinations, and could otherwise fill the disk with them).
struct Log {
    file: Option<File>,
    said: HashSet<String>,
    full: bool,
}

impl Proxy {
    fn record(&self, verdict: &str, target: &str, why: &str) {
        // Shown to the user later: printable ASCII only (no terminal escapes), and short. A longer
        // target than any HOST:PORT is cut with `...`, which no list entry parses as: never a
        // shorter name or port than the one tried.
        let clean = |s: &str| {
            let text = s.chars().take(MAX_TARGET).map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect::<String>();
            if s.chars().count() > MAX_TARGET {
                format!("{text}...")
            } else {
                text
            }
        };
        let line = if why.is_empty() { format!("{verdict}\t{}\n", clean(target)) } else { format!("{verdict}\t{}\t{}\n", clean(target), clean(why)) };
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.full || log.said.contains(&line) {
            return;
        }
        let line = if log.said.len() < MAX_RECORDED { line } else { format!("{TRUNCATED}\t{MAX_RECORDED}\n") };
        log.full = line.starts_with(TRUNCATED);
        if let Some(f) = log.file.as_mut() {
            let _ = f.write_all(line.as_bytes());
        }
        log.said.insert(line);
    }
}

pub(crate) fn main(args: Vec<OsString>) -> ! {
    let mut allowed = vec![];
    let mut log = None;
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        let value = args.next().and_then(|v| v.into_string().ok()).unwrap_or_default();
        match a.to_str() {
            Some("--allow") => allowed.extend(Destination::parse(&value)),
            Some("--log") => log = OpenOptions::new().append(true).create(true).open(&value).ok(),
            _ => std::process::exit(2),
        }
    }
    let log = Log { file: log, said: HashSet::new(), full: false };
    let proxy = Arc::new(Proxy { allowed, log: Mutex::new(log), open: AtomicUsize::new(0) });
    // SAFETY: network.rs starts the proxy with its listening socket on descriptor 3 and nothing else owns it.
    let listener = unsafe { UnixListener::from_raw_fd(3) };
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(_) => continue,
        };
        if proxy.open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            proxy.open.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let proxy = proxy.clone();
        let spawned = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || {
            serve(&proxy, stream);
            proxy.open.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    std::process::exit(0)
}

/// What a request asks for.
struct Request {
    connect: bool,
    host: Host,
    port: u16,
    /// `host:port` as the client wrote it (for the log and messages).
    target: String,
    /// For a plain request: the head to send upstream.
    upstream_head: Vec<u8>,
}

fn serve(proxy: &Proxy, mut client: UnixStream) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(60)));
    let (head, rest) = match read_head(&mut client) {
        Some(h) => h,
        None => return,
    };
    let request = match parse_request(&head) {
        Ok(r) => r,
        Err((target, why)) => {
            proxy.record("refused", &target, why);
            return respond(&mut client, "403 Forbidden", &format!("cargo-sandbox: {why}\n"));
        }
    };
    if !proxy.allowed.iter().any(|d| d.allows(&request.host, request.port)) {
        proxy.record("refused", &request.target, "not in allow-network");
        let body = format!("cargo-sandbox: {} is not in this package's allow-network list\n", request.target);
        return respond(&mut client, "403 Forbidden", &body);
    }
    proxy.record("allowed", &request.target, "");
    let mut upstream = match connect(&request.host, request.port) {
        Some(s) => s,
        None => return respond(&mut client, "502 Bad Gateway", &format!("cargo-sandbox: cannot reach {}\n", request.target)),
    };
    let _ = client.set_read_timeout(None);
    let sent = if request.connect {
        client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").and_then(|_| upstream.write_all(&rest))
    } else {
        upstream.write_all(&request.upstream_head).and_then(|_| upstream.write_all(&rest))
    };
    if sent.is_ok() {
        relay(client, upstream);
    }
}

/// The request head up to the blank line, and whatever came after it.
fn read_head(client: &mut UnixStream) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = client.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Some((buf, rest));
        }
        if buf.len() > MAX_HEAD {
            let _ = client.write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n");
            return None;
        }
    }
}

/// Splits `host:port` (`[v6]:port`); without a port, `default`.
fn authority(text: &str, default: Option<u16>) -> Option<(Host, u16)> {
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && (!h.contains(':') || h.ends_with(']')) => (h, Some(p.parse::<u16>().ok().filter(|&p| p > 0)?)),
        _ => (text, None),
    };
    let host = Host::parse(host).filter(|h| !matches!(h, Host::Below(_)))?;
    Some((host, port.or(default)?))
}

fn parse_request(head: &[u8]) -> Result<Request, (String, &'static str)> {
    let text = std::str::from_utf8(head).map_err(|_| (String::from("?"), "the request is not text"))?;
    let mut lines = text.split("\r\n");
    let mut words = lines.next().unwrap_or("").split(' ');
    let (method, target, version) = (words.next().unwrap_or(""), words.next().unwrap_or(""), words.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") || words.next().is_some() {
        return Err((target.to_string(), "not an HTTP/1 proxy request"));
    }
    let headers: Vec<(&str, &str)> = lines.filter(|l| !l.is_empty()).filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim(), v.trim())).collect();
    let hosts: Vec<&str> = headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("host")).map(|(_, v)| *v).collect();
    let connect = method == "CONNECT";
    let (authority_text, path) = if connect {
        (target, "")
    } else {
        let lower = target.get(..7).map(|s| s.to_ascii_lowercase());
        if lower.as_deref() != Some("http://") {
            return Err((target.to_string(), "only CONNECT and plain http:// requests go through this proxy"));
        }
        let rest = &target[7..];
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        (&rest[..end], &rest[end..])
    };
    let (host, port) = authority(authority_text, if connect { None } else { Some(80) }).ok_or((target.to_string(), "not a host:port the proxy accepts"))?;
    let shown = format!("{}:{port}", host.shown());
    // The Host header, when sent, must name the target: no request may claim another host.
    if hosts.len() > 1 || hosts.iter().any(|h| authority(h, Some(port)).map_or(true, |(hh, hp)| hh != host || hp != port)) {
        return Err((shown, "the Host header names another host than the request's target"));
    }
    let mut upstream_head = Vec::new();
    if !connect {
        let path = if path.is_empty() || !path.starts_with('/') { format!("/{path}") } else { path.to_string() };
        upstream_head.extend_from_slice(format!("{method} {path} {version}\r\n").as_bytes());
        if hosts.is_empty() {
            upstream_head.extend_from_slice(format!("Host: {authority_text}\r\n").as_bytes());
        }
        for (k, v) in &headers {
            let hop = ["connection", "proxy-connection", "proxy-authorization", "keep-alive"].iter().any(|h| k.eq_ignore_ascii_case(h));
            if !hop {
                upstream_head.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
            }
        }
        upstream_head.extend_from_slice(b"Connection: close\r\n\r\n");
    }
    Ok(Request { connect, host, port, target: shown, upstream_head })
}

fn connect(host: &Host, port: u16) -> Option<TcpStream> {
    let addrs: Vec<SocketAddr> = match host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, port)],
        _ => (host.resolvable().as_str(), port).to_socket_addrs().ok()?.collect(),
    };
    addrs.iter().find_map(|a| TcpStream::connect_timeout(a, Duration::from_secs(10)).ok())
}

fn respond(client: &mut UnixStream, status: &str, body: &str) {
    let _ = write!(client, "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
}

/// Bytes both ways until both sides are done.
fn relay(client: UnixStream, upstream: TcpStream) {
    let (mut c_read, mut u_write) = match (client.try_clone(), upstream.try_clone()) {
        (Ok(c), Ok(u)) => (c, u),
        _ => return,
    };
    let up = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut u_write);
        let _ = u_write.shutdown(Shutdown::Write);
    });
    let (mut u_read, mut c_write) = (upstream, client);
    let _ = std::io::copy(&mut u_read, &mut c_write);
    let _ = c_write.shutdown(Shutdown::Write);
    if let Ok(t) = up {
        let _ = t.join();
    }
}
