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
use std::io::Read;
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
    library.parent().map_or(false, |dir| crate::jail::first_not_real(dir, 2).is_none())
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

/// A copy of a granted macro's library, private to this session, whose bytes are the ones we
/// compiled: bound read-only over the library inside the compilation's sandbox, so that what rustc
/// loads is what was checked, whatever happens to the original after the check.
pub(crate) fn sealed_copy(m: &MacroLibrary, session: &Path, index: usize) -> Option<PathBuf> {
    let dir = session.join("sealed");
    fs::create_dir_all(&dir).ok()?;
    let copy = dir.join(format!("{}-{index}.so", std::process::id()));
    let _ = fs::remove_file(&copy);
    fs::copy(&m.library, &copy).ok()?;
    if sha256(&copy).as_deref() != Some(m.digest.as_str()) {
        let _ = fs::remove_file(&copy);
        return None;
    }
    Some(copy)
}

fn touch(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    extern "C" {
        fn utimensat(dirfd: i32, path: *const i8, times: *const [i64; 4], flags: i32) -> i32;
    }
    const AT_FDCWD: i32 = -100;
    if let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) {
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

/// SHA-256 of a file, in hex (FIPS 180-4).
fn sha256(path: &Path) -> Option<String> {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];
    let mut h: [u32; 8] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let compress = |h: &mut [u32; 8], block: &[u8]| {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = *h;
        for i in 0..64 {
            let t1 = hh.wrapping_add(e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25)).wrapping_add((e & f) ^ (!e & g)).wrapping_add(K[i]).wrapping_add(w[i]);
            let t2 = (a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22)).wrapping_add((a & b) ^ (a & c) ^ (b & c));
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    };
    let mut file = fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 1 << 16];
    let mut pending: Vec<u8> = Vec::with_capacity(64);
    let mut total: u64 = 0;
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        total += n as u64;
        let mut data = &buf[..n];
        if !pending.is_empty() {
            let take = (64 - pending.len()).min(data.len());
            pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if pending.len() == 64 {
                compress(&mut h, &pending);
                pending.clear();
            }
        }
        let whole = data.len() / 64 * 64;
        for block in data[..whole].chunks(64) {
            compress(&mut h, block);
        }
        pending.extend_from_slice(&data[whole..]);
    }
    pending.push(0x80);
    while pending.len() % 64 != 56 {
        pending.push(0);
    }
    pending.extend_from_slice(&(total * 8).to_be_bytes());
    for block in pending.chunks(64) {
        compress(&mut h, block);
    }
    Some(h.iter().map(|x| format!("{x:08x}")).collect())
}
