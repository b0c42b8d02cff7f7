// The views a granted compilation searches for crates (libexec/entry/sealed.rs), made here, in the
// tmpfs bubblewrap mounts at their place in the sandbox's root, before the compiler starts:
// `--links-fd N` names a descriptor holding `--dir PATH` and `--symlink TARGET PATH` words, each
// ended by a NUL, as the rustc wrapper wrote them. Made by this process, not by bubblewrap
// (whose command line takes at most 9000 words) nor on the host (a view of a large `deps` is
// thousands of links, slow to make and remove on a disk); afterwards Landlock leaves the
// compiler no write there. Only paths under VIEWS are made; anything else stops the supervisor.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{FromRawFd, RawFd};
use std::path::{Component, Path};

use super::die;

/// Where the views live inside the sandbox (sealed.rs's SEALED_ROOT/views).
const VIEWS: &str = "/.cargo-sandbox-sealed/views";

/// Makes the links the descriptor `fd` lists (see the header), and closes it.
pub(crate) fn make(fd: RawFd) {
    make_under(fd, Path::new(VIEWS));
}

fn make_under(fd: RawFd, views: &Path) {
    // SAFETY: the descriptor came from our own command line (the wrapper's --links-fd, a file it
    // opened for us), is not used elsewhere, and the File takes ownership of it once.
    let mut file = unsafe { File::from_raw_fd(fd) };
    let mut text = Vec::new();
    file.read_to_end(&mut text).unwrap_or_else(|e| die(&format!("confine: cannot read the views: {e}")));
    let words: Vec<&Path> = text.split(|&c| c == 0).filter(|w| !w.is_empty()).map(|w| Path::new(std::ffi::OsStr::from_bytes(w))).collect();
    let ours = |p: &Path| p.starts_with(views) && p.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    let mut rest = words.as_slice();
    while let Some((&flag, after)) = rest.split_first() {
        rest = match (flag.as_os_str().as_bytes(), after) {
            (b"--dir", [dir, more @ ..]) if ours(dir) => {
                fs::create_dir_all(dir).unwrap_or_else(|e| die(&format!("confine: cannot create {}: {e}", dir.display())));
                more
            }
            (b"--symlink", [target, link, more @ ..]) if ours(link) => {
                std::os::unix::fs::symlink(target, link).unwrap_or_else(|e| die(&format!("confine: cannot create {}: {e}", link.display())));
                more
            }
            _ => die(&format!("confine: a view names {}, not a link of its own", flag.display())),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::io::IntoRawFd;

    #[test]
    fn the_links_listed_are_made_under_the_views() {
        let views = std::env::temp_dir().join(format!("links-{}", std::process::id()));
        let _ = fs::remove_dir_all(&views);
        let list = views.with_extension("list");
        let dir = views.join("0");
        let mut text = Vec::new();
        for w in [b"--dir".as_ref(), dir.as_os_str().as_bytes(), b"--symlink", b"/t/deps/libl-1.rlib", dir.join("libl-1.rlib").as_os_str().as_bytes()] {
            text.extend_from_slice(w);
            text.push(0);
        }
        fs::write(&list, text).unwrap();
        make_under(File::open(&list).unwrap().into_raw_fd(), &views);
        assert_eq!(fs::read_link(dir.join("libl-1.rlib")).unwrap(), Path::new("/t/deps/libl-1.rlib"));
        let _ = fs::remove_dir_all(&views);
        let _ = fs::remove_file(&list);
    }
}
