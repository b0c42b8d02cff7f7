// Mount points the direct builder makes at once in its own root tmpfs (`Made` in
// shared/direct_sandbox_mounts.rs), against bubblewrap, on views where a mount point is reached
// through a link that leads onto a directory the builder made, or spelt another way: a mask
// there must still cover what was mounted, and nothing may crash. (From the review of the fast
// path: each failed on its first version, and passes on bubblewrap.)

use std::ffi::OsString;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const DIRECT: &str = env!("CARGO_BIN_EXE_direct-sandbox");
const BWRAP: &str = "/usr/bin/bwrap";

// Not `--ro-bind / /` first: a mount over the root leaves nothing made (everything is looked up).
const BASE: &[&str] = &[
    "--unshare-all",
    "--die-with-parent",
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/bin",
    "/bin",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/lib64",
    "/lib64",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
];

fn run(builder: &str, ops: &[&str], script: &str) -> Output {
    let view: Vec<OsString> = BASE.iter().chain(ops).map(OsString::from).collect();
    Command::new(builder).args(&view).args(["--", "/bin/sh", "-c", script]).stdin(Stdio::null()).output().unwrap()
}

fn builders() -> Vec<&'static str> {
    let ok = Command::new(DIRECT).args(["--unshare-all", "--ro-bind", "/", "/", "--", "/bin/true"]).status().is_ok_and(|s| s.success());
    if !ok {
        return vec![];
    }
    [DIRECT, BWRAP].into_iter().filter(|b| Path::new(b).exists()).collect()
}

/// A tree bound in the view holds a link (`up -> ../a`, as a repository or a writable grant
/// could hold one); a bind through it lands on /a, a directory the builder made. A mask
/// below /a afterwards must cover what that bind shows there.
#[test]
fn a_mask_below_a_directory_covered_through_a_link_still_covers() {
    let tree = std::env::temp_dir().join(format!("made-review-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tree);
    std::fs::create_dir_all(tree.join("shown/secretdir")).unwrap();
    std::fs::write(tree.join("shown/secretdir/key"), "SECRET").unwrap();
    std::fs::create_dir_all(tree.join("ws")).unwrap();
    symlink("../a", tree.join("ws/up")).unwrap();
    let (shown, ws) = (tree.join("shown"), tree.join("ws"));
    let ops = ["--dir", "/a/b", "--ro-bind", ws.to_str().unwrap(), "/w", "--ro-bind", shown.to_str().unwrap(), "/w/up", "--tmpfs", "/a/secretdir", "--remount-ro", "/a/secretdir"];
    for b in builders() {
        let o = run(b, &ops, "test -d /a/secretdir && ! cat /a/secretdir/key");
        assert!(o.status.success(), "{b}: the mask does not cover: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    }
    let _ = std::fs::remove_dir_all(&tree);
}

/// The same through a link of the view's own (`--symlink`).
#[test]
fn a_mask_below_a_directory_covered_through_a_made_link_still_covers() {
    let ops = ["--dir", "/a/b", "--symlink", "a", "/l", "--ro-bind", "/etc", "/l", "--tmpfs", "/a/ssl"];
    for b in builders() {
        let o = run(b, &ops, "test -z \"$(ls -A /a/ssl)\" && test -e /a/passwd");
        assert!(o.status.success(), "{b}: the mask does not cover: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    }
}

/// A directory made through a link into a made one is there when named directly.
#[test]
fn a_directory_made_through_a_link_is_found_by_its_own_path() {
    let ops = ["--dir", "/a", "--symlink", "a", "/l", "--dir", "/l/x", "--tmpfs", "/a/x"];
    for b in builders() {
        let o = run(b, &ops, "test -d /a/x");
        assert!(o.status.success(), "{b}: {}", String::from_utf8_lossy(&o.stderr));
    }
}

/// A mount point under a link that leads nowhere: an error, not a crash (stack overflow, SIGABRT).
#[test]
fn a_mount_point_through_a_dangling_link_is_an_error_not_a_crash() {
    let o = run(DIRECT, &["--symlink", "var/opt", "/opt", "--ro-bind", "/etc", "/opt/foo"], "true");
    assert_eq!(o.status.code(), Some(1), "{:?} {}", o.status, String::from_utf8_lossy(&o.stderr));
}

/// The same with the destination spelt relative (`a`, which both builders take as `/a`).
#[test]
fn a_mask_below_a_directory_covered_under_another_spelling_still_covers() {
    let ops = ["--dir", "/a/b", "--ro-bind", "/etc", "a", "--tmpfs", "/a/ssl"];
    for b in builders() {
        let o = run(b, &ops, "test -z \"$(ls -A /a/ssl)\" && test -e /a/passwd");
        assert!(o.status.success(), "{b}: the mask does not cover: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    }
}
