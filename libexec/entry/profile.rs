// The entry point's side of the per-stage profile (shared/profile.rs): its start, the session read,
// bubblewrap's start, and (for a compilation or rustdoc, which wait for bubblewrap) its end. The
// file is made only once bubblewrap is about to start: a call that runs on the host leaves none.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::profile_stamps::{now_ns, Stamps, CHILDREN, PROFILE_FD, SELF};
use crate::session::Session;

static START: AtomicU64 = AtomicU64::new(0);

struct State {
    kind: &'static str,
    session: u64,
    runs: PathBuf,
    stamps: Stamps,
    /// The supervisor's copy of the file, until bubblewrap's start takes it.
    copy: Option<File>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// The process's start: the one clock read made whether or not the session profiles (its value is
/// needed before session.data says so).
pub(crate) fn start() {
    START.store(now_ns(), Ordering::Relaxed);
}

fn with<T>(f: impl FnOnce(&mut State) -> T) -> Option<T> {
    STATE.lock().ok()?.as_mut().map(f)
}

/// After the session (and policy) read: profiles this process as a `kind` if the session says so.
pub(crate) fn begin(s: &Session, kind: &'static str) {
    if s.profile {
        let state = State { kind, session: now_ns(), runs: s.runs.clone(), stamps: Stamps(None), copy: None };
        if let Ok(mut slot) = STATE.lock() {
            *slot = Some(state);
        }
    }
}

/// The supervisor's arguments that name the profile's descriptor; the file is made now. Nothing
/// when not profiling.
pub(crate) fn supervisor_args() -> Vec<OsString> {
    with(|st| {
        let path = st.runs.join(format!("profile-{}", std::process::id()));
        let file = OpenOptions::new().create(true).append(true).open(path).ok()?;
        st.copy = Some(file.try_clone().ok()?);
        st.stamps = Stamps(Some(file));
        st.stamps.put("kind", st.kind);
        st.stamps.put("entry-start", START.load(Ordering::Relaxed));
        st.stamps.put("session-read", st.session);
        Some(vec!["--profile-fd".into(), PROFILE_FD.to_string().into()])
    })
    .flatten()
    .unwrap_or_default()
}

/// The profile file on the supervisor's descriptor, for bubblewrap to inherit (jail.rs's inherit_fds).
pub(crate) fn descriptor() -> Option<(File, i32)> {
    with(|st| st.copy.take().map(|f| (f, PROFILE_FD))).flatten()
}

/// Right before bubblewrap starts (spawn, or exec for a build script).
pub(crate) fn bwrap_start() {
    with(|st| {
        st.stamps.cpu("entry-cpu", SELF);
        st.stamps.mark("bwrap-exec");
    });
}

/// The entry point's end (a compilation's or rustdoc's, after bubblewrap and the outputs' move).
pub(crate) fn end() {
    with(|st| {
        st.stamps.mark("entry-end");
        st.stamps.cpu("children-cpu", CHILDREN);
        st.stamps.cpu("entry-end-cpu", SELF);
    });
}
