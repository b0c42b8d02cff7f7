// Inside the sandbox's own network namespace: the listeners that lead to the filtering proxy on
// the host (libexec/entry/proxy.rs, through the Unix socket bound at --proxy-socket).
//   --listen-proxy PORT        127.0.0.1:PORT, the address http_proxy names: bytes relayed as
//                              they are (the client speaks HTTP proxy protocol itself).
//   --forward ADDR:PORT=HOST:PORT  a client that ignores proxies (a database driver) connects to
//                              ADDR:PORT; the relay asks the proxy for `CONNECT HOST:PORT` first.
// Nothing here decides anything: the proxy checks every destination, so a script that speaks to
// the socket directly gains nothing. Bound before the script starts; threads of this supervisor,
// which stays outside the script's Landlock domain.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

pub(crate) struct Forwarding {
    pub socket: PathBuf,
    pub proxy_port: Option<u16>,
    /// (where to listen, `host:port` to CONNECT to)
    pub forwards: Vec<(SocketAddr, String)>,
}

impl Forwarding {
    /// The TCP ports the script may connect to (Landlock), once the listeners are up.
    pub(crate) fn ports(&self) -> Vec<u16> {
        self.proxy_port.into_iter().chain(self.forwards.iter().map(|(a, _)| a.port())).collect()
    }

    /// Binds every listener (an IPv6 one may fail where the namespace has no IPv6) and serves
    /// each on its own thread.
    pub(crate) fn start(&self, die: fn(&str) -> !) {
        let mut listeners: Vec<(TcpListener, Option<String>)> = vec![];
        if let Some(port) = self.proxy_port {
            let l = TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| die(&format!("cannot listen on 127.0.0.1:{port} for the network proxy: {e}")));
            listeners.push((l, None));
        }
        for (addr, target) in &self.forwards {
            match TcpListener::bind(addr) {
                Ok(l) => listeners.push((l, Some(target.clone()))),
                Err(_) if addr.is_ipv6() => {}
                Err(e) => die(&format!("cannot listen on {addr} to forward to {target}: {e}")),
            }
        }
        for (listener, target) in listeners {
            let socket = self.socket.clone();
            let accept = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || {
                for client in listener.incoming().flatten() {
                    let (socket, target) = (socket.clone(), target.clone());
                    // No thread for it: that connection is closed, as a refused one is.
                    let _ = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || serve(client, &socket, target.as_deref()));
                }
            });
            if let Err(e) = accept {
                die(&format!("cannot start the network proxy's listener: {e}"));
            }
        }
    }
}

fn serve(client: TcpStream, socket: &PathBuf, connect_to: Option<&str>) {
    let mut proxy = match UnixStream::connect(socket) {
        Ok(p) => p,
        Err(_) => return,
    };
    if let Some(target) = connect_to {
        if proxy.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes()).is_err() || !established(&mut proxy) {
            return; // refused: the client sees its connection closed
        }
    }
    let (mut c_read, mut p_write) = match (client.try_clone(), proxy.try_clone()) {
        (Ok(c), Ok(p)) => (c, p),
        _ => return,
    };
    let up = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut p_write);
        let _ = p_write.shutdown(Shutdown::Write);
    });
    let (mut p_read, mut c_write) = (proxy, client);
    let _ = std::io::copy(&mut p_read, &mut c_write);
    let _ = c_write.shutdown(Shutdown::Write);
    if let Ok(t) = up {
        let _ = t.join();
    }
}

/// Reads the proxy's answer to CONNECT, byte by byte up to the blank line (nothing of the
/// tunnel's own bytes is consumed): true for a 200.
fn established(proxy: &mut UnixStream) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match proxy.read(&mut byte) {
            Ok(1) if head.len() < 4096 => head.push(byte[0]),
            _ => return false,
        }
    }
    head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200")
}
