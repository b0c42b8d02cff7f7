// What rustc loads for a granted proc macro is the copy we checked, reached only through a
// directory no one else can change (THREAT-MODEL layer 5, case 111).
//
// The wrapper copies each granted macro's library (network.rs decides which) into a directory of
// its own in the session, SESSION/sealed/PID/macros, hashing the bytes as it copies: they must be
// the ones we compiled (macro_records.rs). The first copy of given bytes is kept in the session
// (SESSION/sealed/sha256-DIGEST.so, linked from there by later compilations: large macros are
// copied and hashed once per session, not once per compilation). Only the user writes the
// session; no sandbox sees it writable. The copies are bound read-only at SEALED_ROOT/macros, a
// directory bubblewrap makes in the sandbox's own root (a tmpfs of its mount namespace, read-only
// once set up). The kernel detaches a bind only when the entry it is mounted on is replaced, and
// this entry is in no other mount namespace: a file renamed over the original library (from the
// host, from another sandbox) changes nothing rustc can reach.
//
// rustc is then pointed at the copies, and nothing else can stand in for them:
//  * `--extern NAME=LIBRARY` becomes `--extern NAME=SEALED_ROOT/macros/I/FILE`;
//  * each directory rustc searches for crates (`-L dependency=`, `crate=`, `all=` or no kind)
//    becomes a view, SEALED_ROOT/views/J: links to that directory's libraries by name, listed
//    before rustc starts, where a file named as a sealed library leads to its copy, and any other
//    whose name starts as one does (`libNAME-HASH`: rustc's search for that build considers it
//    too, and cargo never makes one) is left out. A macro that a library re-exports is found by
//    that name and its crate hash in these views: a file renamed over the original, or planted
//    beside it with the same crate hash, is never a candidate (rustc takes either of two files
//    with one crate hash, without a word). `-L all=DIR` keeps DIR for native libraries. The
//    links are listed here and made by the supervisor (confine/links.rs) in a tmpfs of the
//    sandbox, before rustc starts: on the host only their list is written. An argument file
//    given to rustc (`@FILE`), whose words would go unseen, stops such a compilation.
// Compilations without a granted macro are left as they were: nothing copied, no view.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::die;
use crate::macro_set::MacroLibrary;

/// Where the copies and views appear inside the sandbox: in its own root, never under a bind.
pub(crate) const SEALED_ROOT: &str = "/.cargo-sandbox-sealed";

/// The descriptor the supervisor reads the views' links from (3 and 4 are bwrap's `--args`).
pub(crate) const VIEWS_FD: i32 = 5;

/// No proc-macro library is this large; a file that is (sparse, growing) is not copied.
const MAX_LIBRARY: u64 = 4 << 30;

/// The kinds of `-L` whose directories rustc searches for crates, besides the native ones.
const CRATE_KINDS: [&str; 2] = ["dependency=", "crate="];
const NATIVE_KINDS: [&str; 2] = ["native=", "framework="];

/// The checked copies of one compilation's granted macros (see the header).
pub(crate) struct Sealed {
    /// SESSION/sealed/PID: the copies in `macros` (bound read-only at SEALED_ROOT/macros), the
    /// views' links in `views` (read by the supervisor).
    dir: PathBuf,
    /// Each granted library as cargo named it, and its copy's file name (under macros/I).
    copies: Vec<(PathBuf, OsString)>,
}

impl Sealed {
    /// This process's sealed directory, made afresh (one left by a killed process of the same
    /// PID goes first: std's removal never follows a link).
    pub(crate) fn new(session: &Path) -> Sealed {
        let parent = session.join("sealed");
        let dir = parent.join(std::process::id().to_string());
        let made = fs::create_dir_all(&parent).and_then(|_| {
            let _ = fs::remove_dir_all(&dir);
            fs::DirBuilder::new().mode(0o755).create(&dir)
        });
        made.unwrap_or_else(|e| die(&format!("cannot create {}: {e}", dir.display())));
        Sealed { dir, copies: vec![] }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.copies.is_empty()
    }

    /// Copies `m`'s library, hashing what it copies; false (nothing kept) unless those are the
    /// bytes we compiled. The original is opened once, never through a link, and must be a
    /// regular file: what is hashed is what rustc gets.
    pub(crate) fn add(&mut self, m: &MacroLibrary) -> bool {
        let name = match m.library.file_name() {
            Some(n) => n.to_os_string(),
            None => return false,
        };
        let slot = self.dir.join("macros").join(self.copies.len().to_string());
        let copy = slot.join(&name);
        if fs::DirBuilder::new().recursive(true).mode(0o755).create(&slot).is_err() || !self.place(m, &copy) {
            let _ = fs::remove_dir_all(&slot);
            return false;
        }
        self.copies.push((m.library.clone(), name));
        true
    }

    /// The checked bytes of `m` at `copy`: a link to the session's copy of those bytes
    /// (SESSION/sealed/sha256-DIGEST.so, checked when it was made, so later compilations copy and
    /// hash nothing), else a copy of their own.
    fn place(&self, m: &MacroLibrary, copy: &Path) -> bool {
        let shared = match self.dir.parent() {
            Some(p) if m.digest.len() == 64 && m.digest.bytes().all(|c| c.is_ascii_hexdigit()) => p.join(format!("sha256-{}.so", m.digest)),
            _ => return copy_checked(&m.library, copy, &m.digest),
        };
        let linked = || fs::hard_link(&shared, copy).is_ok() && fs::symlink_metadata(copy).is_ok_and(|c| c.is_file());
        if linked() {
            return true;
        }
        let _ = fs::remove_file(copy);
        // Made under a name of this process's, then renamed into place: whole or not at all.
        let tmp = self.dir.join("new.so");
        if copy_checked(&m.library, &tmp, &m.digest) && fs::rename(&tmp, &shared).is_ok() {
            prune(shared.parent().unwrap_or(&self.dir));
            if linked() {
                return true;
            }
        }
        let _ = fs::remove_file(&tmp);
        let _ = fs::remove_file(copy);
        copy_checked(&m.library, copy, &m.digest)
    }

    /// Removes the copies and views (after the sandbox is gone).
    pub(crate) fn remove(&self) {
        let _ = fs::remove_dir_all(&self.dir);
    }

    /// The copy of the library cargo named `library`, as the sandbox sees it.
    fn copy_of(&self, library: &Path) -> Option<PathBuf> {
        let i = self.copies.iter().position(|(l, _)| l == library)?;
        Some(inside(i, &self.copies[i].1))
    }

    /// `program` with `--extern` and the crate search directories pointed at the copies (see the
    /// header), and what bwrap needs to show them.
    pub(crate) fn prepare(&self, program: &[OsString], cwd: &Path) -> Prepared {
        let mut views: Vec<View> = vec![];
        let mut out: Vec<OsString> = Vec::with_capacity(program.len() + 4);
        let mut words = program.iter().enumerate();
        // Words we cannot read as rustc will, anywhere (an option's value included): an argument
        // file, or short options grouped (`-OLdependency=DIR` is `-O -L dependency=DIR`). The
        // compiler itself is a program, not an argument.
        if let Some(word) = program.iter().skip(1).find(|w| crate::rustc::opaque_word(w.as_bytes())) {
            die(&format!(
                "a compilation that loads a proc macro with a network grant was given `{}` (an argument file, or grouped short options), which cargo-sandbox cannot check; it is not run (spell the options out in RUSTFLAGS or build.rustflags)",
                word.to_string_lossy()
            ));
        }
        while let Some((_, word)) = words.next() {
            let b = word.as_bytes();
            let next = |words: &mut std::iter::Enumerate<std::slice::Iter<OsString>>| words.next().map(|(_, w)| w.clone());
            if b == b"--extern" {
                out.push(word.clone());
                out.extend(next(&mut words).map(|v| self.extern_value(&v)));
            } else if let Some(v) = b.strip_prefix(b"--extern=") {
                out.push(OsString::from_vec(["--extern=".as_bytes(), self.extern_value(OsStr::from_bytes(v)).as_bytes()].concat()));
            } else if b == b"-L" {
                match next(&mut words) {
                    Some(v) => out.extend(self.search(&v, cwd, &mut views)),
                    None => out.push(word.clone()),
                }
            } else if let Some(v) = b.strip_prefix(b"-L").filter(|v| !v.is_empty()) {
                out.extend(self.search(OsStr::from_bytes(v), cwd, &mut views));
            } else {
                out.push(word.clone());
            }
        }
        let mut bwrap: Vec<OsString> = vec!["--ro-bind".into(), self.dir.join("macros").into(), Path::new(SEALED_ROOT).join("macros").into()];
        let mut confine: Vec<OsString> = vec![];
        let links = self.make_views(&views, &mut bwrap, &mut confine);
        Prepared { program: out, bwrap, confine, links }
    }

    /// The views: a tmpfs bwrap mounts at their place in the sandbox's root, where the
    /// supervisor makes their links (confine/links.rs) from the file it reads on VIEWS_FD.
    fn make_views(&self, views: &[View], bwrap: &mut Vec<OsString>, confine: &mut Vec<OsString>) -> Option<File> {
        if views.is_empty() {
            return None;
        }
        let root = Path::new(SEALED_ROOT).join("views");
        let mut text: Vec<u8> = vec![];
        let mut word = |w: &OsStr| {
            text.extend_from_slice(w.as_bytes());
            text.push(0);
        };
        for (n, view) in views.iter().enumerate() {
            let dir = root.join(n.to_string());
            word("--dir".as_ref());
            word(dir.as_os_str());
            for (name, target) in view {
                word("--symlink".as_ref());
                word(target.as_os_str());
                word(dir.join(name).as_os_str());
            }
        }
        let file = self.dir.join("views");
        let fail = |e: std::io::Error| -> ! { die(&format!("cannot create {}: {e}", file.display())) };
        fs::write(&file, &text).unwrap_or_else(|e| fail(e));
        bwrap.extend(["--tmpfs".into(), root.into_os_string()]);
        confine.extend(["--links-fd".into(), VIEWS_FD.to_string().into()]);
        Some(File::open(&file).unwrap_or_else(|e| fail(e)))
    }

    /// `[MODIFIERS:]NAME=PATH`: the copy's path in place of a sealed library's.
    fn extern_value(&self, value: &OsStr) -> OsString {
        let b = value.as_bytes();
        match b.iter().position(|&c| c == b'=') {
            Some(eq) => match self.copy_of(Path::new(OsStr::from_bytes(&b[eq + 1..]))) {
                Some(copy) => OsString::from_vec([&b[..=eq], copy.as_os_str().as_bytes()].concat()),
                None => value.to_os_string(),
            },
            None => value.to_os_string(),
        }
    }

    /// The words for one `-L` value: a crate search directory becomes a view.
    fn search(&self, value: &OsStr, cwd: &Path, views: &mut Vec<View>) -> Vec<OsString> {
        let b = value.as_bytes();
        let with = |kind: &str, dir: &Path| -> [OsString; 2] { ["-L".into(), OsString::from_vec([kind.as_bytes(), dir.as_os_str().as_bytes()].concat())] };
        if NATIVE_KINDS.iter().any(|k| b.starts_with(k.as_bytes())) {
            return vec!["-L".into(), value.to_os_string()];
        }
        if let Some(kind) = CRATE_KINDS.iter().find(|k| b.starts_with(k.as_bytes())) {
            let view = self.view(Path::new(OsStr::from_bytes(&b[kind.len()..])), cwd, views);
            return with(kind, &view).to_vec();
        }
        // rustc's own rule: `all=DIR`, else the whole value is a directory of every kind.
        let dir = Path::new(OsStr::from_bytes(b.strip_prefix(b"all=").unwrap_or(b)));
        let view = self.view(dir, cwd, views);
        [with("native=", dir), with("framework=", dir), with("crate=", &view), with("dependency=", &view)].concat()
    }

    /// The view of `dir` (see the header): its links, listed now, and its path inside. A
    /// directory that cannot be listed gives an empty view: rustc finds nothing there, as it
    /// would not have.
    fn view(&self, dir: &Path, cwd: &Path, views: &mut Vec<View>) -> PathBuf {
        let dir = cwd.join(dir);
        let stems: Vec<&[u8]> = self.copies.iter().map(|(_, name)| name.as_bytes().strip_suffix(b".so").unwrap_or(name.as_bytes())).collect();
        let mut links: View = vec![];
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let b = name.as_bytes();
            if ![&b".rlib"[..], b".rmeta", b".so", b".dylib", b".dll"].iter().any(|s| b.ends_with(s)) {
                continue;
            }
            let target = match self.copies.iter().position(|(_, n)| *n == name) {
                Some(i) => inside(i, &name),
                None if stems.iter().any(|s| b.starts_with(s)) => continue,
                None => dir.join(&name),
            };
            links.push((name, target));
        }
        views.push(links);
        Path::new(SEALED_ROOT).join("views").join((views.len() - 1).to_string())
    }
}

/// One view: each link's name and where it leads.
type View = Vec<(OsString, PathBuf)>;

/// What a sandbox with sealed copies needs beyond the rest.
pub(crate) struct Prepared {
    /// The compiler's command, pointed at the copies.
    pub program: Vec<OsString>,
    /// bwrap's part: the copies, and the views' tmpfs.
    pub bwrap: Vec<OsString>,
    /// The supervisor's part: where it reads the views' links.
    pub confine: Vec<OsString>,
    /// The views' links, for VIEWS_FD.
    pub links: Option<File>,
}

/// Past this many shared copies in a session, the older half goes (a link made from one stays).
const MAX_SHARED: usize = 32;

fn prune(dir: &Path) {
    let mut shared: Vec<(std::time::SystemTime, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().as_bytes().starts_with(b"sha256-"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if shared.len() > MAX_SHARED {
        shared.sort();
        for (_, path) in &shared[..shared.len() / 2] {
            let _ = fs::remove_file(path);
        }
    }
}

/// Copy number `i` (named `name`) as the sandbox sees it.
fn inside(i: usize, name: &OsStr) -> PathBuf {
    Path::new(SEALED_ROOT).join("macros").join(i.to_string()).join(name)
}

/// Copies the regular file `from` (never through a link) to the new file `to`, true if the bytes
/// copied have the SHA-256 `digest`.
fn copy_checked(from: &Path, to: &Path, digest: &str) -> bool {
    const O_NOFOLLOW: i32 = 0o400000;
    const O_NONBLOCK: i32 = 0o4000;
    let source = match fs::OpenOptions::new().read(true).custom_flags(O_NOFOLLOW | O_NONBLOCK).open(from) {
        Ok(f) if f.metadata().is_ok_and(|m| m.is_file()) => f,
        _ => return false,
    };
    let mut target = match fs::OpenOptions::new().write(true).create_new(true).mode(0o555).open(to) {
        Ok(f) => f,
        Err(_) => return false,
    };
    let mut hash = crate::sha256::Sha256::new();
    let mut source = source.take(MAX_LIBRARY);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hash.update(&buf[..n]);
                if target.write_all(&buf[..n]).is_err() {
                    return false;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    target.flush().is_ok() && crate::sha256::hex(&hash.finish()) == digest
}

#[cfg(test)]
#[path = "sealed_tests.rs"]
mod tests;
