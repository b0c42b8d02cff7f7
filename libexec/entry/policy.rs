// The session's policy, as data written by cargo-sandbox (src/intercept/session.ts): files of
// NUL-terminated `key=value` entries, keys repeated for lists. Nothing here is shell: no value is
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

fn key_value(entry: &[u8]) -> (&[u8], OsString) {
    let eq = entry.iter().position(|&c| c == b'=').unwrap_or(entry.len());
    (&entry[..eq], OsStr::from_bytes(entry.get(eq + 1..).unwrap_or(&[])).to_os_string())
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
    let mut p = PackagePolicy { sandbox: true, ..PackagePolicy::default() };
    for entry in read_entries(&file) {
        let (key, value) = key_value(&entry);
        let set = if value.is_empty() { None } else { Some(value.clone()) };
        // Written by cargo-sandbox for this very session (its format is session.data's): a value
        // that does not parse, or a key we do not know, stops the process instead of widening a limit.
        let bad = |what: &str| -> ! { die(&format!("the sandbox policy {}: `{}` {what}; run the build again", file.display(), String::from_utf8_lossy(key))) };
        let number = || match value.to_str() {
            Some("") => None,
            Some(v) => Some(v.parse::<u64>().unwrap_or_else(|_| bad("is not a number"))),
            None => bad("is not a number"),
        };
        let flag = || match value.to_str() {
            Some("0") => false,
            Some("1") => true,
            _ => bad("is neither 0 nor 1"),
        };
        match key {
            b"sandbox" => p.sandbox = flag(),
            b"network" => p.network = flag(),
            b"connect" => p.connect.push(value),
            b"timeout" => p.timeout = set,
            b"max-output" => p.max_output = set,
            b"max-disk" => p.max_disk = set,
            b"max-file-size" => p.max_file_size = number(),
            b"max-memory" => p.max_memory = number(),
            b"compile-max-disk" => p.compile_max_disk = set,
            b"compile-max-file-size" => p.compile_max_file_size = number(),
            b"compile-max-memory" => p.compile_max_memory = number(),
            b"cgroup" => p.cgroup = set,
            b"finish" => p.finish = set,
            b"target" => p.target = set,
            b"allow-env" => p.allow_env.push(value.into_vec()),
            b"read" => p.read.push(value),
            b"write" => p.write.push(value),
            b"exec" => p.exec.push(value),
            b"runner" => p.runner.push(value),
            _ => bad("is not a key of the sandbox policy"),
        }
    }
    p.file = file;
    p
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
        let mut f = EnvFilter { keep: vec![], deny: vec![] };
        for entry in read_entries(&session.join("env.data")) {
            match key_value(&entry) {
                (b"keep", v) => f.keep.push(v.into_vec()),
                (b"deny", v) => f.deny.push(v.into_vec()),
                (key, _) => die(&format!("the environment rules of the sandbox: unknown entry `{}`; run the build again", String::from_utf8_lossy(key))),
            }
        }
        f
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

/// Shell-style glob with `*` only.
pub(crate) fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.iter().position(|&c| c == b'*') {
        None => pattern == name,
        Some(star) => {
            let (head, rest) = (&pattern[..star], &pattern[star + 1..]);
            name.starts_with(head) && (0..=name.len() - head.len()).any(|skip| glob(rest, &name[head.len() + skip..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob;
    use crate::json::{self, Value};

    /// The vectors the TypeScript side passes too (test/unit/policy.test.ts).
    #[test]
    fn glob_matches_the_shared_vectors() {
        let text = include_str!("../../test/vectors/glob.json");
        let cases = match json::parse(text.as_bytes()) {
            Some(Value::Object(fields)) => fields.into_iter().find(|(k, _)| k == "cases").map(|(_, v)| v),
            _ => None,
        };
        let Some(Value::Array(cases)) = cases else { panic!("test/vectors/glob.json has no cases") };
        assert!(cases.len() >= 20);
        for case in cases {
            let Value::Array(case) = case else { panic!("a case is not an array") };
            match &case[..] {
                [Value::String(pattern), Value::String(name), Value::Bool(expected)] => {
                    assert_eq!(glob(pattern.as_bytes(), name.as_bytes()), *expected, "{pattern:?} ~ {name:?}")
                }
                _ => panic!("a case is not [pattern, name, matches]"),
            }
        }
    }
}
