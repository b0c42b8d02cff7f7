// Landlock (where the kernel has it), the second layer under bubblewrap: writes only beneath OUT_DIR,
// /tmp and granted paths; execution only of allowed programs; no device ioctls; no TCP without
// the network grant; ABI 6 scoping of signals and abstract sockets. The ruleset is built here and
// applied in the script's process only (see main), so the supervisor stays outside its domain.

use super::*;
use std::ffi::CString;

#[cfg(target_arch = "x86_64")]
pub(crate) const SYS_LANDLOCK: [i64; 3] = [444, 445, 446];
#[cfg(not(target_arch = "x86_64"))]
pub(crate) const SYS_LANDLOCK: [i64; 3] = [444, 445, 446]; // same numbers on aarch64 and riscv64 (generic table)

// Landlock file-system rights (linux/landlock.h).
const FS_EXECUTE: u64 = 1 << 0;
const FS_WRITE_FILE: u64 = 1 << 1;
const FS_REMOVE_DIR: u64 = 1 << 4;
const FS_REMOVE_FILE: u64 = 1 << 5;
const FS_MAKE_CHAR: u64 = 1 << 6;
const FS_MAKE_DIR: u64 = 1 << 7;
const FS_MAKE_REG: u64 = 1 << 8;
const FS_MAKE_SOCK: u64 = 1 << 9;
const FS_MAKE_FIFO: u64 = 1 << 10;
const FS_MAKE_BLOCK: u64 = 1 << 11;
const FS_MAKE_SYM: u64 = 1 << 12;
const FS_REFER: u64 = 1 << 13; // ABI 2
const FS_TRUNCATE: u64 = 1 << 14; // ABI 3
const FS_IOCTL_DEV: u64 = 1 << 15; // ABI 5
const NET_BIND_TCP: u64 = 1 << 0; // ABI 4
const NET_CONNECT_TCP: u64 = 1 << 1;
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0; // ABI 6
const SCOPE_SIGNAL: u64 = 1 << 1;

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct NetPortAttr {
    allowed_access: u64,
    port: u64,
}
const RULE_PATH_BENEATH: u32 = 1;
const RULE_NET_PORT: u32 = 2;

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

pub(crate) fn landlock_abi() -> i64 {
    // SAFETY: landlock_create_ruleset with a null attribute, size 0 and the VERSION flag only asks for the ABI; it reads no memory.
    unsafe { syscall(SYS_LANDLOCK[0], std::ptr::null::<u8>(), 0usize, 1u32) }
}

/// Whether a failed ABI query means the kernel has no Landlock: not built in (ENOSYS) or turned
/// off at boot (EOPNOTSUPP). Any other failure is not a kernel without it (THREAT-MODEL.md).
fn lacks_landlock(errno: Option<i32>) -> bool {
    const ENOSYS: i32 = 38;
    const EOPNOTSUPP: i32 = 95;
    matches!(errno, Some(ENOSYS | EOPNOTSUPP))
}

/// The ruleset for the script, or None without Landlock. Applied in the child only, so this
/// supervisor stays outside the script's domain (and out of reach of its signals and ptrace).
pub(crate) fn landlock_ruleset(o: &Options, program: &Path, report: &mut Report) -> Option<RawFd> {
    let abi = landlock_abi();
    if abi < 1 {
        let err = std::io::Error::last_os_error();
        if abi < 0 && lacks_landlock(err.raw_os_error()) {
            return None;
        }
        super::die(&format!("cannot ask the kernel which Landlock it offers: {}", if abi < 0 { err.to_string() } else { format!("ABI {abi}") }));
    }
    let mut write = FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE_CHAR | FS_MAKE_DIR | FS_MAKE_REG | FS_MAKE_SOCK | FS_MAKE_FIFO | FS_MAKE_BLOCK | FS_MAKE_SYM;
    if abi >= 2 {
        write |= FS_REFER;
    }
    if abi >= 3 {
        write |= FS_TRUNCATE;
    }
    let ioctl = if abi >= 5 { FS_IOCTL_DEV } else { 0 };
    let net = if abi >= 4 && o.no_network { NET_BIND_TCP | NET_CONNECT_TCP } else { 0 };
    let scoped = if abi >= 6 { SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL } else { 0 };
    let attr = RulesetAttr { handled_access_fs: FS_EXECUTE | write | ioctl, handled_access_net: net, scoped };
    let size = match abi {
        1..=3 => 8,
        4 | 5 => 16,
        _ => 24,
    };
    // SAFETY: attr is a live repr(C) RulesetAttr and size is no larger than it.
    let fd = unsafe { syscall(SYS_LANDLOCK[0], &attr as *const RulesetAttr, size as usize, 0u32) };
    if fd < 0 {
        // The kernel has Landlock and refused this ruleset: the second layer would be missing
        // without anyone knowing. Only a kernel without Landlock goes on without it (THREAT-MODEL).
        super::die(&format!("the kernel offers Landlock (ABI {abi}) but refused the sandbox's ruleset: {}", std::io::Error::last_os_error()));
    }
    let fd = fd as RawFd;
    let mut writable: Vec<PathBuf> = vec![PathBuf::from("/tmp"), PathBuf::from("/dev/shm")];
    writable.extend(o.out.iter().cloned());
    writable.extend(o.write.iter().cloned());
    for p in &writable {
        add_path_rule(fd, p, write);
    }
    // An `allow-network` list: TCP to the supervisor's listeners only (confine/forward.rs);
    // they are the only thing in this network namespace anyway.
    if net != 0 {
        for port in o.forwarding.iter().flat_map(|f| f.ports()) {
            let attr = NetPortAttr { allowed_access: NET_CONNECT_TCP, port: port as u64 };
            // SAFETY: attr is a live repr(C) NetPortAttr; fd is the ruleset we created.
            if unsafe { syscall(SYS_LANDLOCK[1], fd, RULE_NET_PORT, &attr as *const NetPortAttr, 0u32) } != 0 {
                super::die(&format!("the kernel refused the Landlock rule for the network proxy's port {port}: {}", std::io::Error::last_os_error()));
            }
        }
    }
    // Writing to /dev/null, /dev/tty's output and the like; creating nothing there.
    add_path_rule(fd, Path::new("/dev"), FS_WRITE_FILE | if abi >= 3 { FS_TRUNCATE } else { 0 });
    if o.exec.is_empty() {
        add_path_rule(fd, Path::new("/"), FS_EXECUTE);
    } else {
        let mut allowed: Vec<PathBuf> = vec![program.to_path_buf()];
        for loader in ["/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1", "/lib/ld-linux-riscv64-lp64d.so.1"] {
            allowed.push(PathBuf::from(loader));
        }
        for name in &o.exec {
            match resolve_program(name) {
                Some(p) => allowed.push(p),
                None => report.add("exec-missing", name.as_bytes(), "not found on the sandbox's PATH"),
            }
        }
        for p in &allowed {
            add_path_rule(fd, p, FS_EXECUTE);
        }
    }
    Some(fd)
}

/// A rule for `path`. A path that cannot be opened (missing, as another architecture's loader is,
/// or not reachable) gets none: the script gets less there, never more (THREAT-MODEL.md). Any
/// other failure stops the supervisor: the rule would be missing without anyone knowing.
fn add_path_rule(ruleset: RawFd, path: &Path, access: u64) {
    const ENOENT: i32 = 2;
    const EACCES: i32 = 13;
    const ENOTDIR: i32 = 20;
    const ELOOP: i32 = 40;
    let c = match CString::new(path.as_os_str().as_bytes()) {
        Ok(c) => c,
        Err(_) => return, // a NUL in the name: no such path
    };
    // SAFETY: c is a NUL-terminated CString that outlives the call.
    let pfd = unsafe { open(c.as_ptr(), O_PATH | O_CLOEXEC) };
    if pfd < 0 {
        let err = std::io::Error::last_os_error();
        if matches!(err.raw_os_error(), Some(ENOENT | EACCES | ENOTDIR | ELOOP)) {
            return;
        }
        super::die(&format!("cannot open {} for its Landlock rule: {err}", path.display()));
    }
    // A rule on a file may only carry file rights.
    let is_dir = Path::new(path).is_dir();
    let file_rights = FS_EXECUTE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV | (1 << 2);
    let attr = PathBeneathAttr { allowed_access: if is_dir { access } else { access & file_rights }, parent_fd: pfd };
    // SAFETY: attr is a live repr(C) PathBeneathAttr holding our O_PATH descriptor, closed right after.
    let (added, closed) = unsafe { (syscall(SYS_LANDLOCK[1], ruleset, RULE_PATH_BENEATH, &attr as *const PathBeneathAttr, 0u32), close(pfd)) };
    if added != 0 || closed != 0 {
        super::die(&format!("the kernel refused the Landlock rule for {}: {}", path.display(), std::io::Error::last_os_error()));
    }
}

#[cfg(test)]
mod tests {
    use super::lacks_landlock;

    #[test]
    fn only_a_kernel_without_landlock_goes_on_without_it() {
        assert!(lacks_landlock(Some(38)));
        assert!(lacks_landlock(Some(95)));
        for errno in [None, Some(0), Some(1), Some(12), Some(22)] {
            assert!(!lacks_landlock(errno), "{errno:?}");
        }
    }
}
