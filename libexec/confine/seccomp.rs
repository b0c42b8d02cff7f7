// The kernel interfaces a build never needs, refused before the program starts (a seccomp filter,
// as Flatpak and sandbox-runtime install): kernel keyrings (the user's login keyring holds
// secrets), io_uring, bpf, perf events, userfaultfd, module and kexec loading, unusual
// `personality` flags, and the terminal ioctls that inject input or control the console
// (TIOCSTI, TIOCLINUX). Also: the program gets a fresh, empty session keyring, so that even
// /proc/keys shows nothing of the user's.
//
// x86_64 only (the syscall numbers are per architecture); elsewhere no filter is installed and the
// other layers hold alone. Calls made through another ABI (i386's int 0x80, x32) are refused whole:
// their numbers differ, and the filter would not recognise them. So are x86_64 numbers from 512 on,
// which name no x86_64 call: before Linux split the x32 table out (2019, commit 6365b842aae4), a
// 64-bit process reached the x32 entry points 512-547 without the x32 bit (514 is compat ioctl,
// 539 and 540 process_vm_readv and _writev), past the checks made on their usual numbers.
// The filter's verdicts are tested on real calls through all three ABIs (seccomp_tests.rs).

#[cfg(target_arch = "x86_64")]
mod filter {
    #[repr(C)]
    pub(super) struct SockFilter {
        pub(super) code: u16,
        pub(super) jt: u8,
        pub(super) jf: u8,
        pub(super) k: u32,
    }

    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const SockFilter,
    }

    extern "C" {
        fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
        fn syscall(num: i64, ...) -> i64;
    }

    pub(super) const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    pub(super) const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    pub(super) const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
    pub(super) const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    pub(super) const RET_ALLOW: u32 = 0x7fff_0000;
    pub(super) const RET_ERRNO: u32 = 0x0005_0000;
    pub(super) const EPERM: u32 = 1;
    pub(super) const ENOSYS: u32 = 38;
    pub(super) const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    pub(super) const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    /// The first number no x86_64 call has: 512-547 were x32's, and x86_64's own stop below.
    pub(super) const FIRST_UNUSED: u32 = 512;
    // struct seccomp_data: nr at 0, arch at 4, args[i] at 16 + 8 * i (low half first).
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    const ARG0: u32 = 16;
    const ARG1: u32 = 24;

    /// Refused with ENOSYS, as if the kernel lacked them: libraries that probe fall back.
    pub(super) const ABSENT: [u32; 7] = [425, 426, 427, 321, 298, 323, 310]; // io_uring_{setup,enter,register}, bpf, perf_event_open, userfaultfd, process_vm_readv
    /// Refused with EPERM.
    pub(super) const DENIED: [u32; 10] = [248, 249, 250, 246, 320, 175, 313, 176, 163, 311]; // add_key, request_key, keyctl, kexec_load, kexec_file_load, init_module, finit_module, delete_module, acct, process_vm_writev
    pub(super) const IOCTL: u32 = 16;
    pub(super) const PERSONALITY: u32 = 135;
    pub(super) const TIOCSTI: u32 = 0x5412;
    pub(super) const TIOCLINUX: u32 = 0x541c;
    /// personality(): PER_LINUX, PER_LINUX32, and the query (0xffffffff).
    pub(super) const PERSONAS: [u32; 3] = [0, 8, 0xffff_ffff];

    fn stmt(code: u16, k: u32) -> SockFilter {
        SockFilter { code, jt: 0, jf: 0, k }
    }
    fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
        SockFilter { code, jt, jf, k }
    }

    pub(super) fn program() -> Vec<SockFilter> {
        let mut p = vec![
            stmt(LD_W_ABS, ARCH),
            jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
            stmt(RET_K, RET_ERRNO | EPERM),
            stmt(LD_W_ABS, NR),
            jump(JGE_K, X32_SYSCALL_BIT, 0, 1),
            stmt(RET_K, RET_ERRNO | EPERM),
            jump(JGE_K, FIRST_UNUSED, 0, 1),
            stmt(RET_K, RET_ERRNO | ENOSYS),
        ];
        for nr in ABSENT {
            p.push(jump(JEQ_K, nr, 0, 1));
            p.push(stmt(RET_K, RET_ERRNO | ENOSYS));
        }
        for nr in DENIED {
            p.push(jump(JEQ_K, nr, 0, 1));
            p.push(stmt(RET_K, RET_ERRNO | EPERM));
        }
        // ioctl(fd, TIOCSTI | TIOCLINUX, ...): refused; any other request goes on.
        p.push(jump(JEQ_K, IOCTL, 0, 5));
        p.push(stmt(LD_W_ABS, ARG1));
        p.push(jump(JEQ_K, TIOCSTI, 1, 0));
        p.push(jump(JEQ_K, TIOCLINUX, 0, 1));
        p.push(stmt(RET_K, RET_ERRNO | EPERM));
        p.push(stmt(RET_K, RET_ALLOW));
        // personality(persona): only the plain ones.
        p.push(jump(JEQ_K, PERSONALITY, 0, 5));
        p.push(stmt(LD_W_ABS, ARG0));
        for (i, persona) in PERSONAS.iter().enumerate() {
            p.push(jump(JEQ_K, *persona, (PERSONAS.len() - i) as u8, 0));
        }
        p.push(stmt(RET_K, RET_ERRNO | EPERM));
        p.push(stmt(RET_K, RET_ALLOW));
        p
    }

    /// The filter, built before the fork: the child of a process with threads (the supervisor's
    /// forwarding listeners) must not allocate, since a lock another thread held is never freed there.
    pub(crate) struct Prepared(Vec<SockFilter>);

    pub(crate) fn prepare() -> Prepared {
        Prepared(program())
    }

    impl Prepared {
        /// In the child, before exec: a fresh session keyring, then the filter (no_new_privs is
        /// set by the caller's Landlock step, or here). Allocates nothing.
        pub(crate) fn install(&self) -> std::io::Result<()> {
            install_program(&self.0)
        }
    }

    /// `Prepared::install`, for the tests (seccomp_tests.rs) too.
    pub(super) fn install_program(filter: &[SockFilter]) -> std::io::Result<()> {
        const KEYCTL: i64 = 250;
        const KEYCTL_JOIN_SESSION_KEYRING: i64 = 1;
        const PR_SET_NO_NEW_PRIVS: i32 = 38;
        const PR_SET_SECCOMP: i32 = 22;
        const SECCOMP_MODE_FILTER: u64 = 2;
        let prog = SockFprog { len: filter.len() as u16, filter: filter.as_ptr() };
        // SAFETY: keyctl(JOIN_SESSION_KEYRING, NULL) takes plain integers (a null name: an anonymous keyring).
        if unsafe { syscall(KEYCTL, KEYCTL_JOIN_SESSION_KEYRING, 0u64) } < 0 {
            // A new anonymous session keyring, so that /proc/keys shows nothing of the user's. It
            // may fail only where there are no keyrings to see: a kernel without them (ENOSYS), or
            // an outer seccomp filter refusing keyctl (EPERM: container runtimes do, and give each
            // container a session keyring of its own). THREAT-MODEL.md lists this exception.
            // (No message of its own: it would allocate, and std hands only the errno to the parent.)
            let err = std::io::Error::last_os_error();
            if !matches!(err.raw_os_error(), Some(ENOSYS_ERRNO | EPERM_ERRNO)) {
                return Err(err);
            }
        }
        // SAFETY: prog points at the live filter slice for the duration of the calls; prctl takes plain integers otherwise.
        unsafe {
            if prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog as *const SockFprog as u64, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
    const ENOSYS_ERRNO: i32 = 38;
    const EPERM_ERRNO: i32 = 1;
}

#[cfg(target_arch = "x86_64")]
pub(crate) use filter::prepare;

#[cfg(all(test, target_arch = "x86_64"))]
#[path = "seccomp_tests.rs"]
mod tests;

#[cfg(not(target_arch = "x86_64"))]
pub(crate) struct Prepared;

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn prepare() -> Prepared {
    Prepared
}

#[cfg(not(target_arch = "x86_64"))]
impl Prepared {
    pub(crate) fn install(&self) -> std::io::Result<()> {
        Ok(())
    }
}
