// cargo-sandbox's runner for test, bench, example and `cargo run` binaries (sandbox.run or
// --sandbox-run), set as cargo's target runner: run-binary BINARY [ARGS...]. The binary runs
// inside bubblewrap and the supervisor with its package's policy (grants and limits), plus write
// access to CARGO_TARGET_TMPDIR; its arguments and output pass through unchanged.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::descriptors::inherit_fds;
use crate::jail::{sandbox_programs, session_args};
use crate::launch::{confine_limits, grant_binds, set_limits, RLIMIT_AS, RLIMIT_FSIZE};
use crate::policy::{package_policy, var, working_dir, EnvFilter, NO_OUT_DIR};
use crate::{die, SAVED_LIBRARY_PATH};

pub(crate) fn main(args: Vec<OsString>) -> ! {
    let s = crate::session::current();
    let session = &s.dir;
    let (bwrap, confine) = sandbox_programs(&s);
    let filter = EnvFilter::load(session);
    let pkg = package_policy(session);
    let cwd = working_dir();
    let bin = match args.first() {
        Some(b) => cwd.join(b),
        None => die("the runner was given no program"),
    };
    let dir = bin.parent().unwrap_or_else(|| Path::new("/")).to_path_buf();
    let manifest = var("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_else(|| cwd.clone());
    // Integration tests and benches get CARGO_TARGET_TMPDIR at compile time (env!); it is
    // <target>/tmp, as the session says (a package could set the variable for its binaries).
    let tmpdir = s.target_tmpdir.clone();

    let mut a: Vec<OsString> = vec!["--args".into(), "3".into()];
    // Not again what the view shows already, as it is (the workspace holds both, often): binds.rs.
    let mut shown = crate::binds::Shown::of_setup(session);
    for path in [&dir, &manifest] {
        if !shown.covers(path) {
            a.extend(["--ro-bind".into(), path.clone().into_os_string(), path.clone().into_os_string()]);
            shown.add(path, true);
        }
    }
    if let Some(t) = &tmpdir {
        std::fs::create_dir_all(t).unwrap_or_else(|e| die(&format!("cannot create {}: {e}", t.display())));
        // Writable: a real directory, not a link a repository shipped into the profile's deps or build scripts.
        let profile = dir.parent().map(Path::to_path_buf).unwrap_or_default();
        crate::jail::refuse_unsafe_write(t, 1, &[dir.clone(), profile.join("deps"), profile.join("build")]);
        a.extend(["--bind".into(), t.clone().into_os_string(), t.clone().into_os_string()]);
    }
    // A test binary has no OUT_DIR: grants that name one name nothing.
    let no_out = Path::new(NO_OUT_DIR);
    grant_binds(&mut a, &pkg, no_out, &manifest, &s.own_trees);
    a.extend(["--ro-bind".into(), confine.clone(), confine.clone()]);
    // Cargo's library path (the -sys crates' libraries a test may load), inside only.
    if let Some(path) = std::env::var_os(SAVED_LIBRARY_PATH) {
        a.extend(["--setenv".into(), "LD_LIBRARY_PATH".into(), path]);
    }
    a.extend(["--args".into(), "4".into(), "--chdir".into(), cwd.into_os_string(), "--".into(), confine, "--what".into(), "the test binary".into(), "--no-directives".into()]);
    // Its output goes where cargo sent it (a terminal, colours and all): tests are not buffered by
    // cargo, so no cap is needed.
    a.push("--pass-output".into());
    if let Some(t) = &tmpdir {
        a.extend(["--sweep".into(), t.clone().into_os_string()]);
    }
    confine_limits(&mut a, &pkg, no_out, &manifest);
    a.push("--".into());
    a.push(bin.into_os_string());
    a.extend(args.into_iter().skip(1));

    let mut cmd = Command::new(&bwrap);
    cmd.args(&a).env_clear().envs(filter.apply(&pkg));
    let files = session_args(session, &pkg);
    // Without the masks this view never shows (binds.rs).
    inherit_fds(&mut cmd, files, pkg.cgroup.as_ref());
    set_limits(&mut cmd, [(RLIMIT_FSIZE, pkg.max_file_size), (RLIMIT_AS, pkg.max_memory)]);
    let err = cmd.exec();
    die(&format!("cannot start bubblewrap ({}): {err}", Path::new(&bwrap).display()))
}
