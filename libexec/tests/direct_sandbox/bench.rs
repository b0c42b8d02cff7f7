// Timing (run with `cargo test --release --test direct_sandbox -- --ignored --nocapture`): each
// variant runs /bin/true; rounds alternate between variants so load drifts hit all alike; wall
// time per run and CPU time, medians. CPU is read from a cgroup v2 this test moves into (every
// process of a sandbox counts, even one its builder does not wait for: bwrap's), else from
// getrusage of the waited-for children.

use super::*;

#[repr(C)]
struct Rusage {
    utime: [i64; 2],
    stime: [i64; 2],
    rest: [i64; 14],
}

extern "C" {
    fn getrusage(who: i32, usage: *mut Rusage) -> i32;
}

fn children_cpu_us() -> i64 {
    let mut r = Rusage { utime: [0; 2], stime: [0; 2], rest: [0; 14] };
    // SAFETY: r is a live struct rusage; RUSAGE_CHILDREN (-1).
    unsafe { getrusage(-1, &mut r) };
    r.utime[0] * 1_000_000 + r.utime[1] + r.stime[0] * 1_000_000 + r.stime[1]
}

/// A cgroup v2 holding this process, for CPU accounting; None where none can be made.
struct Cgroup(PathBuf);

impl Cgroup {
    fn enter() -> Option<Cgroup> {
        let top = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"].iter().map(PathBuf::from).find(|p| p.join("cgroup.procs").exists() && p.join("cgroup.controllers").exists())?;
        let dir = top.join(format!("direct-sandbox-bench-{}", std::process::id()));
        std::fs::create_dir(&dir).ok()?;
        std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string()).ok()?;
        Some(Cgroup(dir))
    }

    fn cpu_us(&self) -> i64 {
        let stat = std::fs::read_to_string(self.0.join("cpu.stat")).unwrap_or_default();
        stat.lines().find_map(|l| l.strip_prefix("usage_usec ")).and_then(|v| v.parse().ok()).unwrap_or(0)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.0.parent().unwrap().join("cgroup.procs"), std::process::id().to_string());
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[test]
#[ignore]
fn bench() {
    if !available() {
        return;
    }
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(30);
    // The builder as native-helpers.ts compiles helpers (static, -O) can be timed instead.
    let static_direct = std::env::var("DIRECT_SANDBOX_BIN").ok();
    let direct = static_direct.as_deref().unwrap_or(DIRECT);
    eprintln!("direct: {direct}");
    let f = Fixture::new("bench");
    let bare: Vec<OsString> = ["--ro-bind", "/", "/", "--unshare-all", "--die-with-parent"].iter().map(OsString::from).collect();
    let view = realistic_view(&f, true);
    let mut no_init = view.clone();
    no_init.push("--as-pid-1".into());
    let mut host_net = view.clone();
    host_net.push("--share-net".into());
    let variants: Vec<(&str, &str, &Vec<OsString>)> = vec![
        ("bwrap bare", BWRAP, &bare),
        ("direct bare", direct, &bare),
        ("bwrap realistic view", BWRAP, &view),
        ("direct realistic view", direct, &view),
        ("direct realistic, no init", direct, &no_init),
        ("direct realistic, host net", direct, &host_net),
    ];
    eprintln!("realistic view: {} arguments", view.len());
    let cgroup = Cgroup::enter();
    let cpu_us = || cgroup.as_ref().map_or_else(children_cpu_us, Cgroup::cpu_us);
    eprintln!("CPU from {}", cgroup.as_ref().map_or("getrusage (children waited for only)".into(), |c| c.0.display().to_string()));
    let mut wall = vec![vec![]; variants.len()];
    let mut cpu = vec![vec![]; variants.len()];
    for _ in 0..rounds {
        for (i, (name, builder, args)) in variants.iter().enumerate() {
            let c0 = cpu_us();
            let t0 = Instant::now();
            let s = Command::new(builder).args(args.iter()).args(["--", "/bin/true"]).stdin(Stdio::null()).status().unwrap();
            wall[i].push(t0.elapsed().as_secs_f64() * 1000.0);
            cpu[i].push((cpu_us() - c0) as f64 / 1000.0);
            assert!(s.success(), "{name}");
        }
    }
    eprintln!("{rounds} alternating rounds, medians:");
    for (i, (name, _, _)) in variants.iter().enumerate() {
        eprintln!("{name:28} wall {:6.2} ms   cpu {:6.2} ms", median(&mut wall[i]), median(&mut cpu[i]));
    }
}
