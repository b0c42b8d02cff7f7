// Whose each proc-macro library we compiled is, kept where no sandbox can write: our cache
// directory (beside this program), never `target/`, which a repository can ship with links that
// lead into a build script's OUT_DIR. One record per library, named by the file's identity
// (device, inode, size, mtime): its package, its version, the SHA-256 of its bytes, and the ctime
// at which those bytes were last checked. A library counts as a package's only while its bytes are
// the ones we moved into place: a write changes the ctime (which no one can set back), and then the
// bytes are hashed again. (Cargo's own hard link of a workspace member's macro into target/debug
// changes the ctime too: one more hash, the same bytes.) A second record per digest
// (`sha256-HEX`) recognises the same bytes under another inode (a copied or restored `target/`);
// a library that is not ours is remembered as such, so it is hashed once, not at every compile.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::macro_set::{read_small, MacroLibrary};

/// Past this many records, the half least recently used goes (each is ~100 bytes).
const MAX_RECORDS: usize = 4096;

fn store() -> Option<PathBuf> {
    Some(std::env::current_exe().ok()?.parent()?.join("proc-macros"))
}

fn identity(m: &fs::Metadata) -> String {
    format!("{}-{}-{}-{}.{}", m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec())
}

fn ctime(m: &fs::Metadata) -> String {
    format!("{}.{}", m.ctime(), m.ctime_nsec())
}

fn write_record(path: &Path, text: &str) {
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(".tmp{}", std::process::id()));
    if fs::write(&tmp, text).is_ok() && fs::rename(&tmp, path).is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

/// Whether `library` sits where cargo put it: its directory (`deps`) and that one's parent (the
/// profile) are real directories, not links. A repository can ship `target/debug/deps` as a link
/// into a build script's OUT_DIR, where that script could swap the library after our check and
/// before rustc loads it: nothing there is recorded or trusted.
fn where_cargo_put_it(library: &Path) -> bool {
    library.parent().is_some_and(|dir| crate::jail::first_not_real(dir, 2).is_none())
}

struct Record {
    /// Name and version; none: a library we looked at that is not one of ours.
    package: Option<(String, String)>,
    digest: String,
    ctime: String,
}

fn read_record(path: &Path) -> Option<Record> {
    let text = read_small(path, 1024);
    let fields: Vec<&str> = text.split('\0').collect();
    if fields.len() != 4 {
        return None;
    }
    let plain = |f: &str| !f.is_empty() && f.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_.+".contains(&c));
    let package = (plain(fields[0]) && plain(fields[1])).then(|| (fields[0].to_string(), fields[1].to_string()));
    Some(Record { package, digest: fields[2].to_string(), ctime: fields[3].to_string() })
}

fn save(path: &Path, package: Option<&(String, String)>, digest: &str, ctime: &str) {
    let (name, version) = package.map_or(("", ""), |(n, v)| (n.as_str(), v.as_str()));
    write_record(path, &format!("{name}\0{version}\0{digest}\0{ctime}"));
}

/// After a proc-macro crate's library was moved into place: remember whose it is, by its identity
/// and by its bytes (a copy of `target/`, a CI cache, has other inodes and the same bytes).
pub(crate) fn record_macro_package(library: &Path) {
    let (dir, m) = match (store(), fs::symlink_metadata(library)) {
        (Some(dir), Ok(m)) if m.is_file() && where_cargo_put_it(library) && fs::create_dir_all(&dir).is_ok() => (dir, m),
        _ => return,
    };
    let digest = match sha256(library) {
        Some(d) => d,
        None => return,
    };
    let package = (std::env::var("CARGO_PKG_NAME").unwrap_or_default(), std::env::var("CARGO_PKG_VERSION").unwrap_or_default());
    save(&dir.join(identity(&m)), Some(&package), &digest, &ctime(&m));
    save(&dir.join(format!("sha256-{digest}")), Some(&package), &digest, "");
    prune(&dir);
}

/// The package of `library`, if it is a macro we compiled and its bytes are still ours. Hashed
/// only when the file is new to us or its ctime moved (a write, a link, a chmod).
pub(crate) fn macro_package(library: &Path) -> Option<MacroLibrary> {
    let m = fs::symlink_metadata(library).ok().filter(|m| m.is_file() && where_cargo_put_it(library))?;
    let dir = store()?;
    let path = dir.join(identity(&m));
    let ours = |(name, version): (String, String), digest: String| MacroLibrary { name, version, library: library.to_path_buf(), digest };
    let known = read_record(&path);
    if let Some(r) = known.as_ref().filter(|r| r.ctime == ctime(&m)) {
        if r.package.is_some() {
            touch(&path); // in use: the prune keeps it
        }
        return r.package.clone().map(|p| ours(p, r.digest.clone()));
    }
    let digest = sha256(library)?;
    let package = match known {
        Some(r) if r.digest == digest => r.package,
        _ => read_record(&dir.join(format!("sha256-{digest}"))).and_then(|r| r.package),
    };
    if fs::create_dir_all(&dir).is_ok() {
        save(&path, package.as_ref(), &digest, &ctime(&m));
    }
    package.map(|p| ours(p, digest))
}

fn touch(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    extern "C" {
        fn utimensat(dirfd: i32, path: *const i8, times: *const [i64; 4], flags: i32) -> i32;
    }
    const AT_FDCWD: i32 = -100;
    if let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) {
        // SAFETY: c is a NUL-terminated CString that outlives the call; a null times pointer means now.
        unsafe { utimensat(AT_FDCWD, c.as_ptr(), std::ptr::null(), 0) };
    }
}

fn prune(dir: &Path) {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(_) => return,
    };
    let mut records: Vec<(i64, PathBuf)> = entries.flatten().filter_map(|e| Some((e.metadata().ok()?.mtime(), e.path()))).collect();
    if records.len() > MAX_RECORDS {
        records.sort();
        for (_, path) in &records[..records.len() / 2] {
            let _ = fs::remove_file(path);
        }
    }
}

/// SHA-256 of a file, in hex.
fn sha256(path: &Path) -> Option<String> {
    crate::sha256::of_file(path)
}
