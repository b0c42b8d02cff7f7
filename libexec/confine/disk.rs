// The supervisor's watch over what the program leaves on disk, and its deadline.
//
// What it costs must not grow with what the program writes:
//  - the sandbox's /tmp is a tmpfs of its own (bwrap's `--tmpfs /tmp`): statfs says what it
//    holds at once, whatever the number of files, and counts what a walk cannot see (a file
//    deleted while still open). Anything else at /tmp (a grant of the host's /tmp) is walked.
//  - OUT_DIR (and the compilations' own writable directories) lie on the user's disk, shared with
//    everything else: they are walked, but never more often than every 500 ms, nor than fifty
//    times the last walk took (a walk of 20,000 files costs tens of milliseconds: at most 2% of
//    one core), and once more when the program closes its output, whatever the pace.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{Report, Stop};

/// How many times the last walk's duration passes before the next one.
const PACE: u32 = 50;
/// The shortest gap between two paced walks (statfs still looks at every tick).
const MIN_GAP: std::time::Duration = std::time::Duration::from_millis(500);
/// The longest gap between two walks, however long the last one took.
const MAX_GAP: std::time::Duration = std::time::Duration::from_secs(2);

/// The disk the script uses (OUT_DIR and the sandbox's /tmp), looked at ten times a second (statfs;
/// a walk when due).
/// Also the deadline (`timeout`), checked as often.
pub(crate) struct DiskWatch {
    dirs: Vec<PathBuf>,
    tmp: PathBuf,
    max: u64,
    deadline: Option<Instant>,
    /// No walk before this (see the top of this file).
    next_walk: Instant,
    /// What the file systems of `dirs` held at the last walk (statfs): a growth by more than `max`
    /// since then calls for a walk at once, whatever the pace.
    base: Vec<Option<u64>>,
}

impl DiskWatch {
    /// `dirs` (OUT_DIR, ...) are walked; `tmp` is measured by statfs when it is a tmpfs.
    pub(crate) fn new(dirs: Vec<PathBuf>, tmp: PathBuf, max: u64, deadline: Option<Instant>) -> DiskWatch {
        let base = dirs.iter().map(|d| fs_usage(d, false)).collect();
        DiskWatch { dirs, tmp, max, deadline, next_walk: Instant::now(), base }
    }

    /// The deadline, and the disk if its walk is due (`now`: whatever the pace).
    pub(crate) fn check(&mut self, report: &mut Report, now: bool) -> Result<(), Stop> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            report.add("timeout", b"", "");
            return Err(Stop::Timeout);
        }
        if self.max == u64::MAX {
            return Ok(());
        }
        let grown = || self.dirs.iter().zip(&self.base).any(|(d, b)| fs_usage(d, false).zip(*b).map_or(true, |(u, b)| u.saturating_sub(b) > self.max));
        if !now && Instant::now() < self.next_walk && !grown() {
            return Ok(());
        }
        self.base = self.dirs.iter().map(|d| fs_usage(d, false)).collect();
        let started = Instant::now();
        let used: u64 = self.dirs.iter().map(|d| disk_usage(d)).sum::<u64>() + tmpfs_usage(&self.tmp).unwrap_or_else(|| disk_usage(&self.tmp));
        // Never further apart than MAX_GAP: a script that makes the walk slow sets the pace only so far.
        self.next_walk = Instant::now() + started.elapsed().saturating_mul(PACE).clamp(MIN_GAP, MAX_GAP);
        if used > self.max {
            report.add("disk", b"OUT_DIR and /tmp", &used.to_string());
            return Err(Stop::Disk(used));
        }
        Ok(())
    }
}

/// What a tmpfs at `dir` holds, all of it (the sandbox's own /tmp); None for another file system.
#[cfg(target_pointer_width = "64")]
fn tmpfs_usage(dir: &Path) -> Option<u64> {
    fs_usage(dir, true)
}

/// What the file system at `dir` holds (only a tmpfs, with `tmpfs`).
#[cfg(target_pointer_width = "64")]
fn fs_usage(dir: &Path, tmpfs: bool) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    extern "C" {
        fn statfs(path: *const i8, buf: *mut u64) -> i32;
    }
    const TMPFS_MAGIC: u64 = 0x0102_1994;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // struct statfs on 64-bit Linux: f_type, f_bsize, f_blocks, f_bfree, ... each 8 bytes, 120 in
    // all; the buffer is larger.
    let mut buf = [0u64; 32];
    // SAFETY: the path is a live NUL-terminated string and the buffer a live, writable array
    // larger than the struct statfs the kernel fills.
    if unsafe { statfs(path.as_ptr(), buf.as_mut_ptr()) } != 0 || (tmpfs && buf[0] != TMPFS_MAGIC) {
        return None;
    }
    let (block, blocks, free) = (buf[1], buf[2], buf[3]);
    Some(blocks.saturating_sub(free).saturating_mul(block))
}

#[cfg(not(target_pointer_width = "64"))]
fn tmpfs_usage(_: &Path) -> Option<u64> {
    None
}

#[cfg(not(target_pointer_width = "64"))]
fn fs_usage(_: &Path, _: bool) -> Option<u64> {
    None
}

/// What the script's files take below `dir`, on `dir`'s own file system only: what bwrap mounted
/// inside (e.g. a workspace or target dir under /tmp, read-only) is not the script's.
fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    match dir.symlink_metadata() {
        Ok(m) => usage_on(dir, m.dev()),
        Err(_) => 0,
    }
}

fn usage_on(dir: &Path, dev: u64) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(_) => return 0,
    };
    let mut total = 0;
    for e in entries.flatten() {
        // Relative to the directory (fstatat, not following a link): no lookup of the whole path.
        if let Ok(m) = e.metadata() {
            if m.dev() != dev {
                continue;
            }
            total += m.blocks() * 512;
            if m.is_dir() {
                total += usage_on(&e.path(), dev);
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_tmpfs_is_measured_whole_and_nothing_else() {
        // /dev/shm is a tmpfs on most Linux systems.
        if let Some(used) = tmpfs_usage(Path::new("/dev/shm")) {
            assert!(used < u64::MAX / 2);
        }
        assert!(tmpfs_usage(Path::new("/proc")).is_none());
        assert!(tmpfs_usage(Path::new("/nonexistent-cargo-sandbox")).is_none());
    }

    #[test]
    fn walks_are_paced_by_what_the_last_one_cost() {
        let dir = std::env::temp_dir().join(format!("disk-pace-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::write(dir.join("a/f"), vec![1u8; 10000]).unwrap();
        let mut w = DiskWatch::new(vec![dir.clone()], dir.join("no-tmp"), 1, None);
        let mut report = Report(None);
        assert!(matches!(w.check(&mut report, false), Err(Stop::Disk(u)) if u >= 10000));
        // Not due: the pace skips it; `now` does not. (The file system counted as not grown since:
        // other processes' writes to it, on a busy machine, would otherwise be seen as growth.)
        w.next_walk = Instant::now() + Duration::from_secs(60);
        w.base = w.base.iter().map(|b| b.map(|_| u64::MAX / 2)).collect();
        assert!(w.check(&mut report, false).is_ok());
        assert!(w.check(&mut report, true).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
