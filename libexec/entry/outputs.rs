// The outputs of a sandboxed compilation: moved from its staging directory into place by name,
// regular files only, never through a link; the early metadata linked into place when rustc
// announces it (its JSON artifact notification on stderr), before cargo hears of it.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::die;

/// rustc's `{"$message_type":"artifact","artifact":"STAGE/libNAME.rmeta","emit":"metadata"}`: the
/// metadata is put in place first, then cargo is told (with the final path) and may start the
/// crates that use it. Cargo acts on any artifact path ending in `.rmeta`: one we could not move
/// is not passed on (cargo then waits for rustc to exit, when every output is moved).
pub(crate) fn announce_metadata(line: &[u8], stage: &Path, out: &Path, rmeta: &str) -> Vec<u8> {
    const KEY: &[u8] = b"\"artifact\":";
    let at = match line.windows(KEY.len()).position(|w| w == KEY) {
        Some(i) if line.starts_with(b"{") => i + KEY.len(),
        _ => return line.to_vec(),
    };
    let (path, len) = match json_string_at(&line[at..]) {
        Some(p) => p,
        None => return Vec::new(),
    };
    if !path.ends_with(b".rmeta") {
        return line.to_vec();
    }
    let staged = stage.join(rmeta);
    if path != staged.as_os_str().as_bytes() || !link_regular(&staged, &out.join(rmeta)) {
        return Vec::new();
    }
    [&line[..at], &json_string(out.join(rmeta).as_os_str().as_bytes()), &line[at + len..]].concat()
}

/// The JSON string at the start of `s`: its bytes and how long it was as written.
fn json_string_at(s: &[u8]) -> Option<(Vec<u8>, usize)> {
    if s.first() != Some(&b'"') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'"' => return Some((out, i + 1)),
            b'\\' => {
                let c = *s.get(i + 1)?;
                match c {
                    b'"' | b'\\' | b'/' => out.push(c),
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'u' => {
                        let hex = std::str::from_utf8(s.get(i + 2..i + 6)?).ok()?;
                        let ch = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                        out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                        i += 4;
                    }
                    _ => return None,
                }
                i += 2;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    None
}

/// A path as serde_json (rustc) writes it.
fn json_string(s: &[u8]) -> Vec<u8> {
    let mut out = vec![b'"'];
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            _ => out.push(c),
        }
    }
    out.push(b'"');
    out
}

/// Renames `from` to `to` if it is a regular file (not a link, a FIFO, a directory), never
/// following a link at either end.
pub(crate) fn move_regular(from: &Path, to: &Path) -> bool {
    match fs::symlink_metadata(from) {
        Ok(m) if m.file_type().is_file() => {
            fs::rename(from, to).unwrap_or_else(|e| die(&format!("cannot move {} into place: {e}", from.display())));
            true
        }
        _ => false,
    }
}

/// Gives `from` a second name `to` (rustc reads the metadata back later, from staging; it is
/// moved over its own link at the end), if it is a regular file with no other name: made in
/// staging, not linked there from anywhere else.
fn link_regular(from: &Path, to: &Path) -> bool {
    match fs::symlink_metadata(from) {
        Ok(m) if m.file_type().is_file() && m.nlink() == 1 => {
            let _ = fs::remove_file(to);
            if fs::hard_link(from, to).is_err() {
                return false;
            }
            // The sandbox is still running: what was linked must be the file just looked at, not
            // something swapped in meanwhile (a link made of a symlink is a symlink).
            match fs::symlink_metadata(to) {
                Ok(t) if t.file_type().is_file() && (t.dev(), t.ino()) == (m.dev(), m.ino()) => true,
                _ => {
                    let _ = fs::remove_file(to);
                    false
                }
            }
        }
        _ => false,
    }
}

/// The outputs cargo expects of this unit, moved into place: what rustc emits, by name and
/// extension (libNAME.rlib/.rmeta/.so/.a, NAME.d/.wasm/.dwp, the binary NAME), nothing else — a
/// macro could leave NAME.cargo-sandbox-args, which our wasm compiler would read.
pub(crate) fn move_outputs(unit: &str, stage: &Path, out: &Path) {
    let expected = |n: &str| -> bool {
        let ext = |prefix: &str, exts: &[&str]| n.strip_prefix(prefix).is_some_and(|rest| exts.contains(&rest));
        n == unit || ext(&format!("lib{unit}."), &["rlib", "rmeta", "so", "a", "dylib"]) || ext(&format!("{unit}."), &["d", "wasm", "dwp"])
    };
    for entry in fs::read_dir(stage).into_iter().flatten().flatten() {
        let name = entry.file_name();
        if name.to_str().is_some_and(expected) {
            move_regular(&entry.path(), &out.join(&name));
        }
    }
}
