// The key a cached session is filed under (front-end.rs): SHA-256 of everything it depends on —
// the boot, the cgroups, the arguments, the directory, the environment, the terminals, cargo's
// configuration files, manifests, lockfiles and toolchain files, cargo itself, the trust store and
// cargo-sandbox's own code. Any change to one of them is a miss, which Node handles.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::hash::{Hash, Hasher};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

extern "C" {
    fn isatty(fd: i32) -> i32;
}

/// SHA-256 of everything a session depends on, fed through `Hash` (lengths and all): a workspace
/// cannot craft inputs that land on another session's key, as it could with a keyless SipHash.
struct Fingerprint(crate::sha256::Sha256);

impl Hasher for Fingerprint {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        unreachable!("the key is the whole digest (hex)")
    }
}

impl Fingerprint {
    fn new() -> Self {
        Fingerprint(crate::sha256::Sha256::new())
    }
    fn add<T: Hash + ?Sized>(&mut self, value: &T) {
        value.hash(self);
    }
    /// A configuration file, manifest or lockfile: small, read whole (an edit within the
    /// file system's timestamp granularity would not show in its metadata).
    fn add_content(&mut self, path: &Path) {
        self.add(path.as_os_str().as_bytes());
        match fs::read(path) {
            Ok(data) => self.add(&data),
            Err(_) => self.add("missing"),
        }
    }
    /// One of our own files, by identity: a new version has another size, mtime or inode.
    fn add_file(&mut self, path: &Path) {
        self.add(path.as_os_str().as_bytes());
        match fs::metadata(path) {
            Ok(m) => self.add(&(m.len(), m.mtime(), m.mtime_nsec(), m.ino(), m.dev())),
            Err(_) => self.add("missing"),
        }
    }
    fn add_tree(&mut self, dir: &Path) {
        let mut entries: Vec<_> = match fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => return self.add("missing"),
        };
        entries.sort();
        for path in entries {
            if path.is_dir() {
                self.add_tree(&path);
            } else {
                self.add_file(&path);
            }
        }
    }
    /// 128 bits of it, as the session directory's name (as long as before).
    fn hex(self) -> String {
        crate::sha256::hex(&self.0.finish()[..16])
    }
}

pub(crate) fn session_key(args: &[OsString], cwd: &Path) -> String {
    let mut fp = Fingerprint::new();
    fp.add("cargo-sandbox session v1");
    fp.add(&fs::read("/proc/sys/kernel/random/boot_id").unwrap_or_default());
    // The cgroups this runs in: whether max-processes can be enforced, and where its cgroups are,
    // depend on them (a cgroup delegated to the user: src/backends/cgroup-delegation.ts).
    fp.add(&fs::read("/proc/self/cgroup").unwrap_or_default());
    for a in args {
        fp.add(a.as_bytes());
    }
    fp.add(cwd.as_os_str().as_bytes());
    let mut vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    vars.sort();
    for (k, v) in &vars {
        fp.add(k.as_bytes());
        // Shells change these between commands; nothing of a session depends on their values.
        if k != "OLDPWD" && k != "_" {
            fp.add(v.as_bytes());
        }
    }
    // SAFETY: isatty takes a descriptor number and cannot fail in a harmful way.
    fp.add(&[unsafe { isatty(1) }, unsafe { isatty(2) }]);
    // Cargo's configuration files, and the manifests and lockfiles that locate the workspace.
    let mut dirs: Vec<PathBuf> = cwd.ancestors().map(Path::to_path_buf).collect();
    let mut config_args = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let next = args.get(i + 1).map(|n| n.as_os_str());
        let bytes = a.as_bytes();
        let manifest = if bytes == b"--manifest-path" { next } else { bytes.strip_prefix(b"--manifest-path=").map(OsStr::from_bytes) };
        if let Some(m) = manifest {
            dirs.extend(cwd.join(m).ancestors().skip(1).map(Path::to_path_buf));
        }
        let config = if bytes == b"--config" { next } else { bytes.strip_prefix(b"--config=").map(OsStr::from_bytes) };
        if let Some(c) = config {
            config_args.push(cwd.join(c));
        }
    }
    for dir in &dirs {
        // rustup's toolchain files choose the cargo that runs, whose version was checked when the
        // session was made (src/cli/cargo-version.ts): a switch to an older one must not replay.
        for name in [".cargo/config", ".cargo/config.toml", "Cargo.toml", "Cargo.lock", "rust-toolchain", "rust-toolchain.toml"] {
            fp.add_content(&dir.join(name));
        }
    }
    for path in &config_args {
        fp.add_content(path);
    }
    let cargo_home = std::env::var_os("CARGO_HOME").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    if let Some(home) = cargo_home {
        fp.add_content(&home.join("config"));
        fp.add_content(&home.join("config.toml"));
    }
    // rustup's default toolchain and directory overrides, and the cargo program itself.
    let rustup_home = std::env::var_os("RUSTUP_HOME").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".rustup")));
    if let Some(home) = rustup_home {
        fp.add_content(&home.join("settings.toml"));
    }
    match std::env::var_os("CARGO").map(PathBuf::from).or_else(|| in_path("cargo")) {
        Some(cargo) => fp.add_file(&cargo),
        None => fp.add("no cargo"),
    }
    // The workspaces the user trusts (src/config/trust-store.ts): `trust` and `--revoke` change it.
    let config_home = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(dir) = config_home.or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config"))) {
        fp.add_content(&dir.join("cargo-sandbox/trusted.json"));
    }
    // cargo-sandbox's own code: a new version writes different sessions.
    fp.add_tree(&Path::new(crate::package_root()).join("dist/src"));
    fp.add_tree(&Path::new(crate::package_root()).join("libexec"));
    fp.hex()
}

/// The first `name` in PATH, as execvp would find it.
fn in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| fs::metadata(p).is_ok_and(|m| m.is_file()))
}
