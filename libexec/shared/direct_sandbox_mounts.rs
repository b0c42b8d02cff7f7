// The view's mounts, made through descriptors: each source opened without following a symlink
// (openat2 RESOLVE_NO_SYMLINKS, or beneath a trusted root), cloned detached (open_tree), its
// flags set on the whole clone in one call (mount_setattr AT_RECURSIVE) and attached
// (move_mount) on a mount point resolved inside the new root (RESOLVE_IN_ROOT: a link in a shown
// tree leads somewhere in the sandbox's view, never onto the host's).

use super::sys::{self, *};
use super::view::{Op, View};
use std::cell::RefCell;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io::{Error, ErrorKind};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

type Res<T> = Result<T, String>;

fn cstr(p: &OsStr) -> Res<CString> {
    CString::new(p.as_bytes()).map_err(|_| format!("{} holds a NUL byte", p.to_string_lossy()))
}

/// `dest` as a path relative to the new root ("." for "/"), refusing `..`.
fn relative(dest: &Path) -> Res<PathBuf> {
    let mut r = PathBuf::from(".");
    for c in dest.components() {
        match c {
            Component::Normal(n) => r.push(n),
            Component::RootDir | Component::CurDir => {}
            _ => return Err("`..` in a path the sandbox shows (it would be read one way and mounted another)".into()),
        }
    }
    Ok(r)
}

fn ctx<T>(what: &str, path: &Path, r: std::io::Result<T>) -> Res<T> {
    r.map_err(|e| format!("{what} {}: {e}", path.display()))
}

struct Tree<'a> {
    root: RawFd,
    trusted: &'a [PathBuf],
    /// Whether the host's `/` is root's and writable by no one else: then its own links are the
    /// system's layout (through_root_links). Looked at once per sandbox, not once per source.
    root_owned: bool,
    made: RefCell<Made>,
    /// The host root's links (through_root_links), each read once per sandbox: (name, target).
    root_links: RefCell<Vec<(OsString, Option<PathBuf>)>>,
}

/// What this sandbox made in its own root tmpfs (a new mount namespace no one else can enter
/// yet): directories with nothing mounted on or above them since, whose only entries are those
/// made here (`dirs`, and the files and links in `others`), so a mount point below one is made at
/// once, without looking for it first (four calls less each). Anything else (below a bind, or
/// covered by a mount since) is looked up inside the root as before; and should a lookup land in
/// the root tmpfs (a link, in a shown tree or made by `--symlink`, led there), what was made may
/// be reached under other names: nothing made is trusted again (`distrust`), all is looked up.
#[derive(Default)]
struct Made {
    dirs: Vec<(PathBuf, Rc<OwnedFd>)>,
    others: Vec<PathBuf>,
    /// The root tmpfs's device.
    dev: u64,
}

impl Made {
    fn dir(&self, path: &Path) -> Option<Rc<OwnedFd>> {
        self.dirs.iter().find(|(p, _)| p == path).map(|(_, fd)| fd.clone())
    }
    /// Whether `path` is known not to exist: its parent is a made directory, and it was not made.
    fn absent(&self, path: &Path) -> Option<Rc<OwnedFd>> {
        let parent = self.dir(path.parent()?)?;
        (self.dir(path).is_none() && !self.others.iter().any(|p| p == path)).then_some(parent)
    }
    fn distrust(&mut self) {
        self.dirs.clear();
    }
    /// Something was mounted at `path`: what was made there and below is covered (`path` itself
    /// is still there, and no longer a directory made here).
    fn covered(&mut self, path: &Path) {
        self.dirs.retain(|(p, _)| !p.starts_with(path));
        self.others.retain(|p| !p.starts_with(path));
        self.others.push(path.to_path_buf());
    }
}

/// What a mount point is made as.
#[derive(Clone, Copy)]
enum Kind {
    Dir,
    File,
}

impl Kind {
    fn flags(self) -> i32 {
        match self {
            Kind::Dir => O_DIRECTORY,
            Kind::File => 0,
        }
    }
    fn make(self, dir: RawFd, name: &CStr) -> std::io::Result<()> {
        match self {
            Kind::Dir => sys::mkdir_at(dir, name, 0o755),
            Kind::File => sys::create_file(dir, name),
        }
    }
}

impl Tree<'_> {
    /// `dest` inside the new root: links in it resolve within the root, magic links not at all.
    fn open(&self, dest: &Path, flags: i32) -> std::io::Result<OwnedFd> {
        let rel = relative(dest).map_err(|e| Error::new(ErrorKind::InvalidInput, e))?;
        let c = CString::new(rel.as_os_str().as_bytes()).map_err(|_| Error::from(ErrorKind::InvalidInput))?;
        sys::openat2(self.root, &c, O_PATH | flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    }

    /// `name` in `parent`, a directory made here (Made), just made: opened with no link followed.
    fn open_made(parent: &OwnedFd, dest: &Path, name: &CStr, flags: i32) -> Res<OwnedFd> {
        ctx("cannot open", dest, sys::openat2(parent.as_raw_fd(), name, O_PATH | flags, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS))
    }

    /// The directory `dest`, made (with its parents, mode 0755) where missing.
    fn dir(&self, dest: &Path) -> Res<Rc<OwnedFd>> {
        if let Some(fd) = self.made.borrow().dir(dest) {
            return Ok(fd);
        }
        self.mount_point(dest, Kind::Dir)
    }

    /// The file `dest` (a mount point for a file), made empty where missing.
    fn file(&self, dest: &Path) -> Res<Rc<OwnedFd>> {
        self.mount_point(dest, Kind::File)
    }

    /// `dest`, made as `kind` where missing: at once below a directory made here (Made), else
    /// looked up inside the root (its parents made as directories where missing).
    fn mount_point(&self, dest: &Path, kind: Kind) -> Res<Rc<OwnedFd>> {
        let absent = self.made.borrow().absent(dest);
        if let Some(parent) = absent {
            let (_, name) = split(dest)?;
            match kind.make(parent.as_raw_fd(), &name) {
                Ok(()) => {
                    let fd = Rc::new(Self::open_made(&parent, dest, &name, kind.flags())?);
                    let mut made = self.made.borrow_mut();
                    match kind {
                        Kind::Dir => made.dirs.push((dest.to_path_buf(), fd.clone())),
                        Kind::File => made.others.push(dest.to_path_buf()),
                    }
                    return Ok(fd);
                }
                // Made under another name (through a link): the record is wrong; look it up.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => self.made.borrow_mut().distrust(),
                Err(e) => return ctx("cannot make", dest, Err(e)),
            }
        }
        let fd = match self.open(dest, kind.flags()) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let (parent, name) = split(dest)?;
                let p = self.dir(parent)?;
                if self.made.borrow().absent(dest).is_some() {
                    // The parent was just made here: `dest` is made as below a made directory.
                    return self.mount_point(dest, kind);
                }
                match kind.make(p.as_raw_fd(), &name) {
                    Err(e) if e.kind() != ErrorKind::AlreadyExists => return ctx("cannot make", dest, Err(e)),
                    _ => {}
                }
                ctx("cannot open", dest, self.open(dest, kind.flags()))?
            }
            r => ctx("cannot open", dest, r)?,
        };
        self.looked_up(dest, &fd)?;
        Ok(Rc::new(fd))
    }

    /// A mount point that was looked up, not made at once: if it is in the root tmpfs, a link led
    /// there, and what was made may be reached under other names from now on.
    fn looked_up(&self, dest: &Path, fd: &OwnedFd) -> Res<()> {
        let dev = ctx("cannot stat", dest, sys::device_of(fd.as_raw_fd()))?;
        let mut made = self.made.borrow_mut();
        if dev == made.dev {
            made.distrust();
        }
        Ok(())
    }

    /// The host path `src`, no symlink followed on the way (beneath a trusted root: none below
    /// it) unless `follow` (the session's own binds: Op::Bind); None if it is missing and `optional`.
    fn source(&self, src: &Path, optional: bool, follow: bool) -> Res<Option<OwnedFd>> {
        if !src.is_absolute() {
            return Err(format!("{}: a bind source must be absolute", src.display()));
        }
        let shown = src;
        let src = &if self.root_owned { through_root_links(src, &self.root_links) } else { src.to_path_buf() };
        let no_links = if follow { RESOLVE_NO_MAGICLINKS } else { RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
        let r = match self.trusted.iter().find(|t| src.starts_with(t)) {
            Some(t) => {
                let base = ctx("cannot open", t, sys::openat2(AT_FDCWD, &cstr(t.as_os_str())?, O_PATH | O_DIRECTORY, 0))?;
                let rest = relative(src.strip_prefix(t).unwrap_or(src)).map_err(|e| format!("{}: {e}", src.display()))?;
                sys::openat2(base.as_raw_fd(), &cstr(rest.as_os_str())?, O_PATH, RESOLVE_BENEATH | no_links)
            }
            None => sys::openat2(AT_FDCWD, &cstr(src.as_os_str())?, O_PATH, no_links),
        };
        match r {
            Err(e) if e.kind() == ErrorKind::NotFound && optional => Ok(None),
            Err(e) if e.raw_os_error() == Some(40) => Err(format!(
                "{}: {} is a symbolic link, and the sandbox shows nothing through one (a link a package or a repository made could lead anywhere); name the path it leads to",
                shown.display(),
                first_link(src).unwrap_or(src).display()
            )),
            r => ctx("cannot open", src, r).map(Some),
        }
    }

    /// Clones the tree at `src` (an O_PATH descriptor) with `attrs` and attaches it at `dest`.
    fn bind(&self, src: OwnedFd, dest: &Path, attrs: u64, recursive: bool) -> Res<()> {
        let src = File::from(src);
        let is_dir = ctx("cannot stat the source for", dest, src.metadata())?.is_dir();
        let tree = ctx("cannot clone the source for", dest, sys::clone_tree(src.as_raw_fd(), recursive))?;
        ctx("cannot set the mount flags for", dest, sys::set_attrs(tree.as_raw_fd(), attrs, recursive))?;
        let onto = if is_dir { self.dir(dest)? } else { self.file(dest)? };
        let attached = ctx("cannot attach", dest, sys::attach(tree.as_raw_fd(), onto.as_raw_fd()));
        self.made.borrow_mut().covered(dest);
        attached
    }

    fn new_fs(&self, fstype: &CStr, opts: &[(&CStr, &CStr)], attrs: u64, dest: &Path) -> Res<()> {
        let m = ctx(&format!("cannot make a {} for", fstype.to_string_lossy()), dest, sys::new_fs(fstype, opts, attrs))?;
        let onto = self.dir(dest)?;
        let attached = ctx("cannot attach", dest, sys::attach(m.as_raw_fd(), onto.as_raw_fd()));
        self.made.borrow_mut().covered(dest);
        attached
    }

    fn symlink(&self, target: &Path, dest: &Path) -> Res<()> {
        let (parent, name) = split(dest)?;
        let p = self.dir(parent)?;
        ctx("cannot make the link", dest, sys::symlink_at(&cstr(target.as_os_str())?, p.as_raw_fd(), &name))?;
        self.made.borrow_mut().others.push(dest.to_path_buf());
        Ok(())
    }

    /// The host files `op` shows, opened before anything is mounted (the new root, attached in
    /// this namespace, would cover host paths under it: sources are the host's, as with bwrap).
    fn sources(&self, op: &Op) -> Res<Vec<Option<OwnedFd>>> {
        match op {
            Op::Bind { src, optional, follow, .. } => Ok(vec![self.source(src, *optional, *follow)?]),
            Op::Dev { .. } => DEVICES.iter().map(|name| self.source(&Path::new("/dev").join(name), true, false)).collect(),
            _ => Ok(vec![]),
        }
    }

    fn apply(&self, op: &Op, sources: Vec<Option<OwnedFd>>) -> Res<()> {
        const RO: u64 = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
        match op {
            Op::Bind { dest, writable, .. } => match sources.into_iter().next().flatten() {
                Some(s) => self.bind(s, dest, if *writable { MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV } else { RO }, true),
                None => Ok(()),
            },
            Op::Tmpfs { dest, read_only } => self.new_fs(c"tmpfs", &[(c"mode", c"0755")], if *read_only { RO } else { RO & !MOUNT_ATTR_RDONLY }, dest),
            Op::Dev { dest } => self.dev(dest, sources),
            Op::Proc { dest } => {
                self.new_fs(c"proc", &[], MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, dest)?;
                // As bwrap: what would change the host's kernel settings stays read-only.
                for part in ["sys", "sysrq-trigger", "irq", "bus"] {
                    let at = dest.join(part);
                    match self.open(&at, 0) {
                        Ok(fd) => self.bind(fd, &at, RO | MOUNT_ATTR_NOEXEC, true)?,
                        Err(e) if e.kind() == ErrorKind::NotFound => {}
                        Err(e) => return ctx("cannot open", &at, Err(e)),
                    }
                }
                Ok(())
            }
            Op::Symlink { target, dest } => self.symlink(target, dest),
            Op::Dir { dest } => self.dir(dest).map(drop),
            Op::RemountRo { dest } => {
                let m = ctx("cannot open", dest, self.open(dest, 0))?;
                ctx("cannot make read-only", dest, sys::set_attrs(m.as_raw_fd(), MOUNT_ATTR_RDONLY, false))
            }
        }
    }

    /// bwrap's --dev: a tmpfs holding the host's harmless devices (bound: no device node can be
    /// made in a user namespace), a private devpts, shm, and the usual links.
    fn dev(&self, dest: &Path, devices: Vec<Option<OwnedFd>>) -> Res<()> {
        self.new_fs(c"tmpfs", &[(c"mode", c"0755")], MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, dest)?;
        for (name, s) in DEVICES.iter().zip(devices) {
            if let Some(s) = s {
                self.bind(s, &dest.join(name), MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, false)?;
            }
        }
        for (name, target) in
            [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("core", "/proc/kcore"), ("ptmx", "pts/ptmx")]
        {
            self.symlink(Path::new(target), &dest.join(name))?;
        }
        self.dir(&dest.join("shm"))?;
        let pts = [(c"ptmxmode", c"0666"), (c"mode", c"620")];
        self.new_fs(c"devpts", &pts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, &dest.join("pts"))
    }
}

/// `src` with the links of the root directory followed (merged /usr's /lib -> usr/lib, an
/// image-based system's /home -> var/home): only root can make one there, so they are the
/// system's layout, not a package's or a repository's (`root_owned` tells). Any other link stops
/// the bind. Each entry of `/` is read once per sandbox (`links`).
fn through_root_links(src: &Path, links: &RefCell<Vec<(OsString, Option<PathBuf>)>>) -> PathBuf {
    let mut path = src.to_path_buf();
    // A few hops at most (a link to a link); what is left is opened with no link followed.
    for _ in 0..4 {
        let mut parts = path.components();
        let (Some(Component::RootDir), Some(Component::Normal(top))) = (parts.next(), parts.next()) else { break };
        let known = links.borrow().iter().find(|(name, _)| name == top).map(|(_, target)| target.clone());
        let target = known.unwrap_or_else(|| {
            let target = std::fs::read_link(Path::new("/").join(top)).ok();
            links.borrow_mut().push((top.to_os_string(), target.clone()));
            target
        });
        let Some(target) = target else { break };
        let rest = parts.as_path();
        let resolved = Path::new("/").join(target);
        path = if rest.as_os_str().is_empty() { resolved } else { resolved.join(rest) };
    }
    path
}

/// The first component of `path` that is a symbolic link, for the message.
fn first_link(path: &Path) -> Option<&Path> {
    let mut ancestors: Vec<&Path> = path.ancestors().collect();
    ancestors.reverse();
    ancestors.into_iter().find(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()))
}

const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

fn split(dest: &Path) -> Res<(&Path, CString)> {
    match (dest.parent(), dest.file_name()) {
        (Some(p), Some(n)) => Ok((p, cstr(n)?)),
        _ => Err(format!("{}: not a path below the root", dest.display())),
    }
}

/// Builds the view on a fresh tmpfs (attached over /tmp of this new mount namespace, made private
/// first) and returns that tmpfs, ready for pivot_root.
pub fn build(view: &View) -> Res<OwnedFd> {
    sys::make_all_private().map_err(|e| format!("cannot make the mounts private: {e}"))?;
    let root_owned = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/").is_ok_and(|m| m.uid() == 0 && m.mode() & 0o022 == 0)
    };
    let host = Tree { root: AT_FDCWD, trusted: &view.trusted, root_owned, made: RefCell::default(), root_links: RefCell::default() };
    let sources = view.ops.iter().map(|op| host.sources(op)).collect::<Res<Vec<_>>>()?;
    let root = sys::new_fs(c"tmpfs", &[(c"mode", c"0755")], MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV).map_err(|e| format!("cannot make the root tmpfs: {e}"))?;
    let base = sys::openat2(AT_FDCWD, c"/tmp", O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS).map_err(|e| format!("cannot open /tmp: {e}"))?;
    sys::attach(root.as_raw_fd(), base.as_raw_fd()).map_err(|e| format!("cannot attach the root tmpfs: {e}"))?;
    // The root tmpfs is new and empty: everything in it is made here (Made), until something
    // is mounted over it.
    let root_dir = root.try_clone().map_err(|e| format!("cannot hold the root tmpfs: {e}"))?;
    let dev = sys::device_of(root_dir.as_raw_fd()).map_err(|e| format!("cannot stat the root tmpfs: {e}"))?;
    let mut tree = Tree { made: RefCell::new(Made { dirs: vec![(PathBuf::from("/"), Rc::new(root_dir))], others: vec![], dev }), ..host };
    let mut root = root;
    for (op, sources) in view.ops.iter().zip(sources) {
        tree.root = root.as_raw_fd();
        tree.apply(op, sources)?;
        if op_dest(op) == Path::new("/") {
            // A mount over the root itself (`--ro-bind / /`): what follows goes on top of it.
            root = sys::openat2(AT_FDCWD, c"/tmp", O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS).map_err(|e| format!("cannot open the new root: {e}"))?;
        }
    }
    Ok(root)
}

fn op_dest(op: &Op) -> &Path {
    match op {
        Op::Bind { dest, .. } | Op::Tmpfs { dest, .. } | Op::Dev { dest } | Op::Proc { dest } | Op::Symlink { dest, .. } | Op::Dir { dest } | Op::RemountRo { dest } => dest,
    }
}
