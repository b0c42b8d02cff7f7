// The session's policy, as data written by cargo-sandbox (src/intercept/session.ts): files of
// NUL-terminated `key=value` entries, keys repeated for lists, in the formats of
// libexec/schema/records.json (shared/records.rs checks them). Nothing here is shell: no value is
// ever parsed as a command.
//   packages/FILE.data  one package's grants and limits (the most specific file: name@version,
//                       name, or _default)
//   env.data            which variables a sandboxed program may see (`keep=`/`deny=` patterns)
//   unset-user-env.list the user's variables a compilation must not see (NUL-separated names)
// A granted path may hold the runtime parts OUT_DIR and CARGO_MANIFEST_DIR, written as
// \x01NAME\x01 (cargo-sandbox refuses a literal path with that byte).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::die;
use crate::records::{self, Record};
use crate::variables::glob;

pub(crate) fn var(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// The working directory cargo gave us, spelled as the user's shell spells it (PWD, when it names
/// this very directory: a workspace reached through a symlink keeps its paths), else the real one.
/// Cargo does not update PWD: it is often the directory `cargo` was started in.
pub(crate) fn working_dir() -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let real = std::env::current_dir().unwrap_or_else(|e| die(&format!("no working directory: {e}")));
    let id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    match var("PWD").map(PathBuf::from) {
        Some(pwd) if pwd.is_absolute() && id(&pwd).is_some() && id(&pwd) == id(&real) => pwd,
        _ => real,
    }
}

/// A session file of NUL-terminated entries.
pub(crate) fn read_entries(file: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(file).unwrap_or_else(|e| die(&format!("cannot read the sandbox policy {}: {e}", file.display())));
    data.split(|&c| c == 0).filter(|e| !e.is_empty()).map(|e| e.to_vec()).collect()
}

/// The grants and limits of the package being built (cargo's CARGO_PKG_NAME/VERSION).
#[derive(Default)]
pub(crate) struct PackagePolicy {
    /// Which file they came from (recorded with each run).
    pub file: PathBuf,
    pub sandbox: bool,
    /// The whole network (`allow-network = true`).
    pub network: bool,
    /// `allow-network = [...]`: destinations reached through the filtering proxy (network.rs).
    pub connect: Vec<OsString>,
    pub timeout: Option<OsString>,
    pub max_output: Option<OsString>,
    pub max_disk: Option<OsString>,
    pub max_file_size: Option<u64>,
    pub max_memory: Option<u64>,
    /// A compilation's limits: the defaults, or the package's where higher.
    pub compile_max_disk: Option<OsString>,
    pub compile_max_file_size: Option<u64>,
    pub compile_max_memory: Option<u64>,
    pub cgroup: Option<OsString>,
    /// bwrap arguments that replace the session's finish.args (masks after grants).
    pub finish: Option<OsString>,
    /// The target build scripts are compiled for (sandbox.target), as a JSON file for Node.
    pub target: Option<OsString>,
    pub allow_env: Vec<Vec<u8>>,
    pub read: Vec<OsString>,
    pub write: Vec<OsString>,
    pub exec: Vec<OsString>,
    /// A custom runner's words (`{}` the script, `{VAR}` a variable), which replace bubblewrap.
    pub runner: Vec<OsString>,
}

pub(crate) fn package_policy(session: &Path) -> PackagePolicy {
    let name = std::env::var("CARGO_PKG_NAME").unwrap_or_default();
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    package_policy_of(session, &name, &version)
}

/// The grants and limits of another package (a proc macro's, see network.rs).
pub(crate) fn package_policy_of(session: &Path, name: &str, version: &str) -> PackagePolicy {
    let packages = session.join("packages");
    let candidates = [format!("{name}@{version}.data"), format!("{name}.data"), "_default.data".to_string()];
    let file = candidates.iter().map(|c| packages.join(c)).find(|p| p.is_file());
    let file = file.unwrap_or_else(|| die(&format!("the sandbox policy in {} is missing; run the build through `cargo sandbox`", packages.display())));
    let r = read_record("package", &file);
    let owned = |key: &str| r.one(key).map(OsStr::to_os_string);
    PackagePolicy {
        sandbox: r.flag("sandbox").unwrap_or(true),
        network: r.flag("network").unwrap_or(false),
        connect: r.all("connect"),
        timeout: owned("timeout"),
        max_output: owned("max-output"),
        max_disk: owned("max-disk"),
        max_file_size: r.number("max-file-size"),
        max_memory: r.number("max-memory"),
        compile_max_disk: owned("compile-max-disk"),
        compile_max_file_size: r.number("compile-max-file-size"),
        compile_max_memory: r.number("compile-max-memory"),
        cgroup: owned("cgroup"),
        finish: owned("finish"),
        target: owned("target"),
        allow_env: r.all("allow-env").into_iter().map(OsString::into_vec).collect(),
        read: r.all("read"),
        write: r.all("write"),
        exec: r.all("exec"),
        runner: r.all("runner"),
        file,
    }
}

/// A file of the session in one of the formats of libexec/schema/records.json. Written by
/// cargo-sandbox for this very session: anything that does not fit its format stops the process
/// instead of widening a limit.
pub(crate) fn read_record(format: &str, file: &Path) -> Record {
    let data = std::fs::read(file).unwrap_or_else(|e| die(&format!("cannot read the sandbox policy {}: {e}", file.display())));
    records::parse(format, &data)
        .unwrap_or_else(|e| die(&format!("the sandbox policy {}: {e}; cargo-sandbox and its compiled helpers disagree: run the build again", file.display())))
}

/// What a grant's OUT_DIR part stands for where there is no OUT_DIR (a compilation of a package
/// without a build script, a test binary): a path that names nothing.
pub(crate) const NO_OUT_DIR: &str = "/nonexistent/cargo-sandbox-no-out-dir";

/// A granted path with its runtime parts (\x01OUT_DIR\x01, \x01CARGO_MANIFEST_DIR\x01) filled in.
pub(crate) fn expand(path: &OsStr, out_dir: &Path, manifest: &Path) -> OsString {
    let mut result = Vec::new();
    for (i, part) in path.as_bytes().split(|&c| c == 1).enumerate() {
        if i % 2 == 0 {
            result.extend_from_slice(part);
        } else {
            match part {
                b"OUT_DIR" => result.extend_from_slice(out_dir.as_os_str().as_bytes()),
                b"CARGO_MANIFEST_DIR" => result.extend_from_slice(manifest.as_os_str().as_bytes()),
                _ => die("unknown runtime part in a granted path"),
            }
        }
    }
    OsString::from_vec(result)
}

/// Which variables a sandboxed program sees: the package's `allow-env`, else the session's rules
/// (a `deny` pattern wins over `keep`). Any name, whether or not a shell could spell it.
pub(crate) struct EnvFilter {
    keep: Vec<Vec<u8>>,
    deny: Vec<Vec<u8>>,
}

impl EnvFilter {
    pub(crate) fn load(session: &Path) -> EnvFilter {
        let r = read_record("env", &session.join("env.data"));
        let bytes = |key| r.all(key).into_iter().map(OsString::into_vec).collect();
        EnvFilter { keep: bytes("keep"), deny: bytes("deny") }
    }

    /// A name a deny pattern (a secret) matches and the package's `allow-env` does not.
    pub(crate) fn denies(&self, name: &[u8], package: &PackagePolicy) -> bool {
        self.deny.iter().any(|p| glob(p, name)) && !package.allow_env.iter().any(|p| glob(p, name))
    }

    pub(crate) fn passes(&self, name: &[u8], package: &PackagePolicy) -> bool {
        package.allow_env.iter().any(|p| glob(p, name)) || (!self.deny.iter().any(|p| glob(p, name)) && self.keep.iter().any(|p| glob(p, name)))
    }

    /// The environment a sandboxed program starts with: what passes, and TMPDIR=/tmp.
    pub(crate) fn apply(&self, package: &PackagePolicy) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> = std::env::vars_os().filter(|(k, _)| self.passes(k.as_bytes(), package) && k != "TMPDIR").collect();
        env.push(("TMPDIR".into(), "/tmp".into()));
        env
    }
}
