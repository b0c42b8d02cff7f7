// The raw system calls the direct sandbox builder makes (std has none of them), each wrapped to
// return io::Result. Numbers: x86_64, and the generic table (aarch64, riscv64) where they differ;
// the new mount API, openat2 and mount_setattr have one number on every architecture.

use std::ffi::CStr;
use std::io::{Error, Result};
use std::os::unix::io::{FromRawFd, OwnedFd, RawFd};

extern "C" {
    fn syscall(num: i64, ...) -> i64;
    fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
    fn mount(src: *const i8, target: *const i8, fstype: *const i8, flags: u64, data: *const u8) -> i32;
    fn umount2(target: *const i8, flags: i32) -> i32;
    fn mkdirat(dirfd: i32, path: *const i8, mode: u32) -> i32;
    fn symlinkat(target: *const i8, dirfd: i32, path: *const i8) -> i32;
    fn openat(dirfd: i32, path: *const i8, flags: i32, ...) -> i32;
    fn fchdir(fd: i32) -> i32;
    fn chdir(path: *const i8) -> i32;
    fn sethostname(name: *const u8, len: usize) -> i32;
    fn setsid() -> i32;
    fn fcntl(fd: i32, cmd: i32, ...) -> i32;
    fn fstat(fd: i32, buf: *mut u64) -> i32;
}

/// The device of the file `fd` refers to (an O_PATH descriptor will do).
pub fn device_of(fd: RawFd) -> Result<u64> {
    // struct stat: st_dev (a 64-bit dev_t) comes first on every Linux architecture; the buffer
    // is larger than any struct stat (144 bytes on x86_64, 128 on aarch64 and riscv64).
    let mut buf = [0u64; 32];
    // SAFETY: buf is a live, writable buffer larger than struct stat.
    check(unsafe { fstat(fd, buf.as_mut_ptr()) } as i64).map(|_| buf[0])
}

/// Marks `fd` close-on-exec (F_SETFD 2, FD_CLOEXEC 1): the sandbox's processes do not inherit it.
pub fn close_on_exec(fd: RawFd) -> Result<()> {
    // SAFETY: fcntl with F_SETFD takes an integer argument; a bad fd only returns EBADF.
    check(unsafe { fcntl(fd, 2, 1) } as i64).map(drop)
}

#[cfg(target_arch = "x86_64")]
mod nr {
    pub const CLONE: i64 = 56;
    pub const PIVOT_ROOT: i64 = 155;
    pub const CAPSET: i64 = 126;
}
#[cfg(not(target_arch = "x86_64"))]
mod nr {
    pub const CLONE: i64 = 220;
    pub const PIVOT_ROOT: i64 = 41;
    pub const CAPSET: i64 = 91;
}
const SYS_OPEN_TREE: i64 = 428;
const SYS_MOVE_MOUNT: i64 = 429;
const SYS_FSOPEN: i64 = 430;
const SYS_FSCONFIG: i64 = 431;
const SYS_FSMOUNT: i64 = 432;
const SYS_OPENAT2: i64 = 437;
const SYS_MOUNT_SETATTR: i64 = 442;

pub const AT_FDCWD: RawFd = -100;
pub const O_CLOEXEC: i32 = 0o2000000;
pub const O_PATH: i32 = 0o10000000;
#[cfg(target_arch = "x86_64")]
pub const O_NOFOLLOW: i32 = 0o400000;
#[cfg(not(target_arch = "x86_64"))]
pub const O_NOFOLLOW: i32 = 0o100000;
#[cfg(target_arch = "x86_64")]
pub const O_DIRECTORY: i32 = 0o200000;
#[cfg(not(target_arch = "x86_64"))]
pub const O_DIRECTORY: i32 = 0o40000;
pub const O_WRONLY: i32 = 1;
pub const O_CREAT: i32 = 0o100;
pub const O_EXCL: i32 = 0o200;

pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_BENEATH: u64 = 0x08;
pub const RESOLVE_IN_ROOT: u64 = 0x10;

const AT_EMPTY_PATH: u32 = 0x1000;
const AT_RECURSIVE: u32 = 0x8000;
const OPEN_TREE_CLONE: u32 = 1;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;

pub const CLONE_NEWNS: u64 = 0x0002_0000;
pub const CLONE_NEWCGROUP: u64 = 0x0200_0000;
pub const CLONE_NEWUTS: u64 = 0x0400_0000;
pub const CLONE_NEWIPC: u64 = 0x0800_0000;
pub const CLONE_NEWUSER: u64 = 0x1000_0000;
pub const CLONE_NEWPID: u64 = 0x2000_0000;
pub const CLONE_NEWNET: u64 = 0x4000_0000;
pub const SIGCHLD: u64 = 17;

fn check(r: i64) -> Result<i64> {
    if r < 0 {
        Err(Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn fd(r: i64) -> Result<OwnedFd> {
    // SAFETY: r is a descriptor the kernel just returned to us (checked non-negative); nothing else owns it.
    check(r).map(|r| unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// openat2(2): `path` beneath `dir` with `resolve`'s restrictions, always close-on-exec.
pub fn openat2(dir: RawFd, path: &CStr, flags: i32, resolve: u64) -> Result<OwnedFd> {
    let how = OpenHow { flags: (flags | O_CLOEXEC) as u64, mode: 0, resolve };
    // SAFETY: path is NUL-terminated, how a live repr(C) open_how whose size we pass.
    fd(unsafe { syscall(SYS_OPENAT2, dir, path.as_ptr(), &how as *const OpenHow, std::mem::size_of::<OpenHow>()) })
}

/// A new file `name` in `dir` (never through a link: O_EXCL), to be a mount point.
pub fn create_file(dir: RawFd, name: &CStr) -> Result<()> {
    // SAFETY: name is NUL-terminated; the flags create a new file only (no link followed with O_EXCL).
    let r = unsafe { openat(dir, name.as_ptr(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644) };
    fd(r as i64).map(drop)
}

pub fn mkdir_at(dir: RawFd, name: &CStr, mode: u32) -> Result<()> {
    // SAFETY: name is NUL-terminated; mkdirat never follows a link at its last component.
    check(unsafe { mkdirat(dir, name.as_ptr(), mode) } as i64).map(drop)
}

pub fn symlink_at(target: &CStr, dir: RawFd, name: &CStr) -> Result<()> {
    // SAFETY: both strings are NUL-terminated.
    check(unsafe { symlinkat(target.as_ptr(), dir, name.as_ptr()) } as i64).map(drop)
}

/// A detached copy of the mount tree at `from` (an O_PATH descriptor), with its submounts when `recursive`.
pub fn clone_tree(from: RawFd, recursive: bool) -> Result<OwnedFd> {
    let flags = OPEN_TREE_CLONE | O_CLOEXEC as u32 | AT_EMPTY_PATH | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: an empty NUL-terminated path with AT_EMPTY_PATH: the descriptor itself.
    fd(unsafe { syscall(SYS_OPEN_TREE, from, c"".as_ptr(), flags) })
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Sets `attrs` on the mount `mnt` (and every mount beneath it when `recursive`).
pub fn set_attrs(mnt: RawFd, attrs: u64, recursive: bool) -> Result<()> {
    let a = MountAttr { attr_set: attrs, attr_clr: 0, propagation: 0, userns_fd: 0 };
    let flags = AT_EMPTY_PATH | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: a is a live repr(C) mount_attr of the size we pass; the path is empty (the descriptor).
    check(unsafe { syscall(SYS_MOUNT_SETATTR, mnt, c"".as_ptr(), flags, &a as *const MountAttr, std::mem::size_of::<MountAttr>()) }).map(drop)
}

/// Attaches the detached mount `mnt` on the file or directory `onto` (both descriptors).
pub fn attach(mnt: RawFd, onto: RawFd) -> Result<()> {
    // SAFETY: empty NUL-terminated paths with the EMPTY_PATH flags: both ends are the descriptors.
    check(unsafe { syscall(SYS_MOVE_MOUNT, mnt, c"".as_ptr(), onto, c"".as_ptr(), MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) }).map(drop)
}

/// A new detached mount of file system `fstype` with string options `opts` and mount attributes `attrs`.
pub fn new_fs(fstype: &CStr, opts: &[(&CStr, &CStr)], attrs: u64) -> Result<OwnedFd> {
    const FSCONFIG_SET_STRING: u32 = 1;
    const FSCONFIG_CMD_CREATE: u32 = 6;
    // SAFETY: fstype is NUL-terminated; FSOPEN_CLOEXEC (1) is the only flag.
    let ctx = fd(unsafe { syscall(SYS_FSOPEN, fstype.as_ptr(), 1u32) })?;
    use std::os::unix::io::AsRawFd;
    for (key, value) in opts {
        // SAFETY: key and value are NUL-terminated strings alive during the call.
        check(unsafe { syscall(SYS_FSCONFIG, ctx.as_raw_fd(), FSCONFIG_SET_STRING, key.as_ptr(), value.as_ptr(), 0i32) })?;
    }
    // SAFETY: CMD_CREATE takes no key or value.
    check(unsafe { syscall(SYS_FSCONFIG, ctx.as_raw_fd(), FSCONFIG_CMD_CREATE, 0usize, 0usize, 0i32) })?;
    // SAFETY: FSMOUNT_CLOEXEC (1) and plain mount attributes.
    fd(unsafe { syscall(SYS_FSMOUNT, ctx.as_raw_fd(), 1u32, attrs as u32) })
}

/// Makes every mount of this (new) namespace private: nothing done here reaches the host's.
pub fn make_all_private() -> Result<()> {
    const MS_REC: u64 = 0x4000;
    const MS_PRIVATE: u64 = 1 << 18;
    // SAFETY: all strings are NUL-terminated or null where mount(2) allows it.
    check(unsafe { mount(std::ptr::null(), c"/".as_ptr(), std::ptr::null(), MS_REC | MS_PRIVATE, std::ptr::null()) } as i64).map(drop)
}

/// pivot_root into the directory `root` (a mount's descriptor) and detach the old root.
pub fn pivot_into(root: RawFd) -> Result<()> {
    const MNT_DETACH: i32 = 2;
    // SAFETY: root is a descriptor we hold; the paths are NUL-terminated.
    unsafe {
        check(fchdir(root) as i64)?;
        check(syscall(nr::PIVOT_ROOT, c".".as_ptr(), c".".as_ptr()))?;
        check(umount2(c".".as_ptr(), MNT_DETACH) as i64)?;
        check(chdir(c"/".as_ptr()) as i64).map(drop)
    }
}

/// fork(2) into new namespaces (`flags`): Ok(0) in the child, the child's pid in the parent.
pub fn clone_into(flags: u64) -> Result<i32> {
    // SAFETY: clone without CLONE_VM and a null stack behaves as fork: the child gets a copy of
    // this (single-threaded) process's memory and returns here with 0.
    check(unsafe { syscall(nr::CLONE, flags | SIGCHLD, 0usize, 0usize, 0usize, 0usize) }).map(|p| p as i32)
}

pub fn set_hostname(name: &[u8]) -> Result<()> {
    // SAFETY: name points to name.len() readable bytes.
    check(unsafe { sethostname(name.as_ptr(), name.len()) } as i64).map(drop)
}

pub fn new_session() -> Result<()> {
    // SAFETY: setsid takes no arguments.
    check(unsafe { setsid() } as i64).map(drop)
}

pub fn prctl_set(option: i32, arg: u64) -> Result<i32> {
    // SAFETY: the prctl options used here (PDEATHSIG, NO_NEW_PRIVS, CAPBSET_DROP, CAP_AMBIENT) take integers only.
    check(unsafe { prctl(option, arg, 0, 0, 0) } as i64).map(|r| r as i32)
}

/// The process's name (its comm, at most 15 bytes).
pub fn set_name(name: &CStr) -> Result<()> {
    // SAFETY: PR_SET_NAME (15) reads a NUL-terminated string from a live buffer, at most 16 bytes.
    check(unsafe { prctl(15, name.as_ptr() as u64, 0, 0, 0) } as i64).map(drop)
}

pub const PR_SET_PDEATHSIG: i32 = 1;
pub const PR_SET_DUMPABLE: i32 = 4;
pub const PR_CAPBSET_DROP: i32 = 24;
pub const PR_SET_NO_NEW_PRIVS: i32 = 38;
pub const PR_CAP_AMBIENT: i32 = 47;

/// Drops every capability: the bounding set (so an exec as uid 0 regains none), the ambient
/// set, then the effective, permitted and inheritable sets.
pub fn drop_capabilities() -> Result<()> {
    for cap in 0..64u64 {
        if let Err(e) = prctl_set(PR_CAPBSET_DROP, cap) {
            if e.raw_os_error() == Some(22) {
                break; // EINVAL: past the kernel's last capability
            }
            return Err(e);
        }
    }
    prctl_set(PR_CAP_AMBIENT, 4 /* PR_CAP_AMBIENT_CLEAR_ALL */)?;
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    let header = Header { version: 0x2008_0522, pid: 0 }; // _LINUX_CAPABILITY_VERSION_3
    let data = [0u32; 6]; // two cap_user_data structs, all sets empty
                          // SAFETY: header and data are live, of the sizes capset's version 3 reads.
    check(unsafe { syscall(nr::CAPSET, &header as *const Header, data.as_ptr()) }).map(drop)
}
