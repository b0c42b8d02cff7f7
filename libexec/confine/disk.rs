// The supervisor's watch over what the program leaves on disk, and its deadline.

use std::path::{Path, PathBuf};

use crate::{Report, Stop};

/// The disk the script uses (OUT_DIR and the sandbox's /tmp), measured twice a second.
/// Also the deadline (`timeout`), checked as often.
pub(crate) struct DiskWatch {
    pub(crate) dirs: Vec<PathBuf>,
    pub(crate) max: u64,
    pub(crate) deadline: Option<std::time::Instant>,
}

impl DiskWatch {
    pub(crate) fn check(&self, report: &mut Report) -> Result<(), Stop> {
        if self.deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            report.add("timeout", b"", "");
            return Err(Stop::Timeout);
        }
        if self.max == u64::MAX {
            return Ok(());
        }
        let used: u64 = self.dirs.iter().map(|d| disk_usage(d)).sum();
        if used > self.max {
            report.add("disk", b"OUT_DIR and /tmp", &used.to_string());
            return Err(Stop::Disk(used));
        }
        Ok(())
    }
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
        if let Ok(m) = e.path().symlink_metadata() {
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
