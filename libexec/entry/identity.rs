// This user's identity in `rustc -vV` (rustc.rs). Cargo hashes the compiler's version text into
// every artifact's directory name and fingerprint, so with a secret of the user's in that text a
// target dir that anyone else built (another machine, plain cargo, another user, a repository
// that ships `target/`) never matches: cargo rebuilds, and never runs a build script it finds
// there. The secret is 128 random bits that cargo-sandbox keeps in the user's cache (mode 0600,
// src/intercept/identity.ts), masked in every sandbox. What `-vV` prints is an HMAC of the target
// dir under it: cargo keeps that text in <target>/.rustc_info.json, which sandboxed programs can
// read, and what they learn there matches no other target dir. That file is believed only when it
// is the one cargo wrote for us (src/intercept/rustc-info.ts).

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;

use crate::die;
use crate::session::Session;

const O_NOFOLLOW: i32 = 0o400000;
const O_NONBLOCK: i32 = 0o4000;

/// The identity for the session's target dir (32 hexadecimal digits).
pub(crate) fn for_target_dir(s: &Session) -> String {
    let mac = crate::sha256::hmac(secret(s).as_bytes(), s.target_dir.as_os_str().as_bytes());
    crate::sha256::hex(&mac[..16])
}

/// The user's secret; stops the process if the file is not ours or holds no secret.
fn secret(s: &Session) -> String {
    let path = &s.identity_file;
    let bad = |why: &str| -> ! { die(&format!("the identity file {} {why}; remove it and build again (cargo-sandbox makes a new one)", path.display())) };
    let file = std::fs::OpenOptions::new().read(true).custom_flags(O_NOFOLLOW | O_NONBLOCK).open(path).unwrap_or_else(|e| bad(&format!("cannot be read ({e})")));
    let meta = file.metadata().unwrap_or_else(|e| bad(&format!("cannot be read ({e})")));
    if !meta.is_file() || !crate::session::ours(&meta, 0o077) {
        bad("is not a private file of this user");
    }
    let mut text = String::new();
    let _ = file.take(64).read_to_string(&mut text);
    let id = text.trim_end();
    if id.len() != 32 || !id.bytes().all(|c| c.is_ascii_hexdigit()) {
        bad("does not hold an identity");
    }
    id.to_string()
}
