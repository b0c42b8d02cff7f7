// `npm run bench`'s network case: one build script that makes HTTP requests to a local server,
// each on a new connection, and reports the median time of one: plain TCP to ADDR (a forward when
// sandboxed), and through the proxy in `http_proxy` (CONNECT) when there is one. Never fails:
// without a grant the requests are refused and it reports nothing.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

fn request(addr: &str, head: &str) -> Option<f64> {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).ok()?;
    s.write_all(head.as_bytes()).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    if !out.windows(6).any(|w| w == b"200 OK") {
        return None;
    }
    Some(start.elapsed().as_secs_f64() * 1000.0)
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs.get(xs.len() / 2).copied()
}

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let addr = std::fs::read_to_string(format!("{dir}/server.txt")).unwrap().trim().to_string();
    let get = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let direct: Vec<f64> = (0..30).filter_map(|_| request(&addr, &get)).collect();
    if let Some(m) = median(direct) {
        println!("cargo:warning=direct-ms={m:.3}");
    }
    if let Ok(proxy) = std::env::var("http_proxy") {
        let proxy = proxy.trim_start_matches("http://").trim_end_matches('/').to_string();
        let connect = format!("CONNECT {addr} HTTP/1.1\r\nHost: {addr}\r\n\r\n{get}");
        let tunnelled: Vec<f64> = (0..30).filter_map(|_| request(&proxy, &connect)).collect();
        if let Some(m) = median(tunnelled) {
            println!("cargo:warning=proxy-ms={m:.3}");
        }
    }
}
