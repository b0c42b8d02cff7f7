// The per-stage profile of one sandboxed process (`CARGO_SANDBOX_PROFILE=1 cargo sandbox ...`,
// session.data's `profile` flag): one file per entry point process, runs/RUN/profile-PID, a line
// `stage<TAB>value` each (libexec/schema/records.json, `lists`). The entry point writes its stages,
// hands the file to the supervisor inside bubblewrap on PROFILE_FD (`--profile-fd`), and the
// supervisor appends its own. Times are CLOCK_MONOTONIC in nanoseconds: one clock for every process
// of the machine, bubblewrap's namespaces included (it makes no time namespace). CPU times are
// getrusage's user + system, in nanoseconds. src/intercept/profile.ts reads and sums them up.
// Without the flag none of this runs: no file, no descriptor, no clock read beyond the entry's first.

use std::fs::File;
use std::io::Write;

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut [i64; 2]) -> i32;
    fn getrusage(who: i32, usage: *mut [i64; 18]) -> i32;
}

/// The descriptor the supervisor finds the profile on (3 to 6 carry bwrap's and the run's files).
pub(crate) const PROFILE_FD: i32 = 7;
/// getrusage: this process, or its children that have been waited for (and theirs).
pub(crate) const SELF: i32 = 0;
pub(crate) const CHILDREN: i32 = -1;

/// CLOCK_MONOTONIC, in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    let mut ts = [0i64; 2];
    // SAFETY: clock_gettime writes one struct timespec (two 64-bit fields on the 64-bit Linux we
    // build for) into the live array it is given; CLOCK_MONOTONIC (1) always exists.
    unsafe { clock_gettime(1, &mut ts) };
    (ts[0] as u64).wrapping_mul(1_000_000_000).wrapping_add(ts[1] as u64)
}

/// User + system CPU time of `who` (SELF or CHILDREN), in nanoseconds.
pub(crate) fn cpu_ns(who: i32) -> u64 {
    // struct rusage: two struct timevals (user, system), then 14 longs: 144 bytes.
    let mut usage = [0i64; 18];
    // SAFETY: getrusage writes one struct rusage (144 bytes on 64-bit Linux) into the live,
    // large-enough array it is given; `who` is RUSAGE_SELF or RUSAGE_CHILDREN.
    if unsafe { getrusage(who, &mut usage) } != 0 {
        return 0;
    }
    let micros = (usage[0] + usage[2]) * 1_000_000 + usage[1] + usage[3];
    micros.max(0) as u64 * 1000
}

/// The profile file, when profiling is on; every call is a no-op otherwise.
pub(crate) struct Stamps(pub Option<File>);

impl Stamps {
    /// `stage<TAB>value`, in one write (the file is opened for appending: two processes add to it).
    pub(crate) fn put(&mut self, stage: &str, value: impl std::fmt::Display) {
        if let Some(f) = self.0.as_mut() {
            let _ = f.write_all(format!("{stage}\t{value}\n").as_bytes());
        }
    }

    /// The time now, as `stage`.
    pub(crate) fn mark(&mut self, stage: &str) {
        if self.0.is_some() {
            self.put(stage, now_ns());
        }
    }

    /// `who`'s CPU time so far, as `stage`.
    pub(crate) fn cpu(&mut self, stage: &str, who: i32) {
        if self.0.is_some() {
            self.put(stage, cpu_ns(who));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_move_forward() {
        let a = now_ns();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0 && now_ns() > a && a > 0);
        assert!(cpu_ns(SELF) > 0);
        let path = std::env::temp_dir().join(format!("profile-test-{}", std::process::id()));
        let mut s = Stamps(Some(std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap()));
        s.put("kind-test", 3);
        s.mark("t");
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(text.starts_with("kind-test\t3\nt\t"), "{text}");
        Stamps(None).mark("nothing");
    }
}
