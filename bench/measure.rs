// `npm run bench`'s stopwatch: runs one command and prints `WALL_NS CPU_NS`: its wall time, and
// the CPU time (user + system) of everything it started. With `--cgroup DIR` (a cgroup v1 cpuacct
// directory), this process moves into it first and the CPU is the cgroup's usage: every process of
// the command counts, those that bubblewrap's init never reaps too. Without, getrusage of the
// children, which misses what runs inside bubblewrap's PID namespace. The command's stdout is
// dropped, its stderr passed on. Compiled by bench/micro.ts with the rustc of the machine.

use std::process::{Command, Stdio};
use std::time::Instant;

extern "C" {
    fn getrusage(who: i32, usage: *mut [i64; 18]) -> i32;
}

fn children_cpu_ns() -> u64 {
    let mut u = [0i64; 18];
    // SAFETY: getrusage writes one struct rusage (144 bytes on 64-bit Linux) into the live array.
    unsafe { getrusage(-1, &mut u) };
    (((u[0] + u[2]) * 1_000_000 + u[1] + u[3]) * 1000) as u64
}

fn main() {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let mut cgroup = None;
    if args.first().is_some_and(|a| a == "--cgroup") {
        cgroup = Some(std::path::PathBuf::from(&args[1]));
        args.drain(..2);
    }
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    let usage = |dir: &std::path::Path| std::fs::read_to_string(dir.join("cpuacct.usage")).ok().and_then(|s| s.trim().parse::<u64>().ok());
    if let Some(dir) = &cgroup {
        // This thread (the process: single-threaded) alone: no whole-process move, no RCU wait.
        std::fs::write(dir.join("tasks"), "0").unwrap_or_else(|e| panic!("cannot join {}: {e}", dir.display()));
    }
    let (cpu0, ru0) = (cgroup.as_deref().and_then(usage), children_cpu_ns());
    let start = Instant::now();
    let status = Command::new(&args[0]).args(&args[1..]).stdin(Stdio::null()).stdout(Stdio::null()).status().unwrap_or_else(|e| panic!("cannot run {:?}: {e}", args[0]));
    let wall = start.elapsed().as_nanos();
    let cpu = match (cpu0, cgroup.as_deref().and_then(usage)) {
        (Some(a), Some(b)) => b - a,
        _ => children_cpu_ns() - ru0,
    };
    println!("{wall} {cpu}");
    std::process::exit(status.code().unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)));
}
