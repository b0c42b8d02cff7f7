# Sourced by the rustc and rustdoc wrappers for the calls that run or read what the dependency graph
# left (proc macros, native libraries, linker arguments; every rustdoc call): rustc runs inside
# bubblewrap, under the supervisor (libexec/confine.rs). It sees the system, the toolchain, the sources and the profile's artifacts
# read-only, writes only its private output and incremental
# directories (the wrapper moves the expected outputs into place), has no network, and gets the
# environment without the user's secrets (cargo's variables and `cargo:rustc-env` values stay).

# sandboxed_rustc PROFILE_DIR STAGE WRITABLE_DIR RUSTC ARGS...: STAGE (the outputs, swept afterwards)
# and WRITABLE_DIR (the incremental or documentation directory, not swept) are writable; either may
# be empty.
sandboxed_rustc() {
  _profile=$1 _stage=$2 _incr=$3
  shift 3
  _session=${__CARGO_SANDBOX_SESSION:?cargo-sandbox session missing}
  _bwrap=${__CARGO_SANDBOX_BWRAP:?}
  _confine=${__CARGO_SANDBOX_CONFINE:?}
  # A file inside a writable directory that must stay as it is (`sandbox_keep`, set by the caller).
  _keep=${sandbox_keep:-}
  # The package's limits (timeout, output, processes) hold for the macros it loads, as for its
  # build script; the supervisor enforces them, adds Landlock (writes only to the outputs), kills
  # what the macros left running and sweeps the output directory before it is moved into place.
  # (policy-lib.sh is sourced by both wrappers.)
  find_package_policy "$_session"
  pkg_phase=vars
  . "$pkgfile" || return 101
  # The package first: its directory may hold the target dir (a one-package workspace), and a
  # later bind of it would cover the writable ones below.
  set -- --args 3 ${CARGO_MANIFEST_DIR:+--ro-bind} ${CARGO_MANIFEST_DIR:+"$CARGO_MANIFEST_DIR"} ${CARGO_MANIFEST_DIR:+"$CARGO_MANIFEST_DIR"} \
    --ro-bind "$_profile" "$_profile" ${_stage:+--bind} ${_stage:+"$_stage"} ${_stage:+"$_stage"} \
    ${_incr:+--bind} ${_incr:+"$_incr"} ${_incr:+"$_incr"} ${_keep:+--ro-bind} ${_keep:+"$_keep"} ${_keep:+"$_keep"} \
    --ro-bind "$_confine" "$_confine" \
    --unshare-net --args 4 --chdir "$PWD" \
    ${__CARGO_SANDBOX_LD_LIBRARY_PATH+--setenv} ${__CARGO_SANDBOX_LD_LIBRARY_PATH+LD_LIBRARY_PATH} ${__CARGO_SANDBOX_LD_LIBRARY_PATH+"$__CARGO_SANDBOX_LD_LIBRARY_PATH"} \
    -- "$_confine" --what "${1##*/}" --no-directives --no-network \
    ${_stage:+--out} ${_stage:+"$_stage"} ${_incr:+--write} ${_incr:+"$_incr"} \
    ${pkg_timeout:+--timeout} ${pkg_timeout:+"$pkg_timeout"} ${pkg_max_output:+--max-output} ${pkg_max_output:+"$pkg_max_output"} \
    -- "$@"
  (
    . "$_session/unset-user-env.sh"
    # bwrap itself runs without cargo's library path: rustc gets it inside (--setenv above).
    unset __CARGO_SANDBOX_SESSION __CARGO_SANDBOX_BWRAP __CARGO_SANDBOX_LAUNCH __CARGO_SANDBOX_INNER_WRAPPER \
      __CARGO_SANDBOX_NODE __CARGO_SANDBOX_JS __CARGO_SANDBOX_RUSTC_SANDBOX RUSTC_WRAPPER \
      __CARGO_SANDBOX_LD_LIBRARY_PATH __CARGO_SANDBOX_ENTRY __CARGO_SANDBOX_CONFINE LD_LIBRARY_PATH
    export TMPDIR=/tmp
    # max-processes: this subshell (`echo` is a builtin: the writer moves), so bwrap and all in it.
    [ -z "$pkg_cgroup" ] || { echo 0 > "$pkg_cgroup/cgroup.procs"; } 2>/dev/null || {
      echo "error: cargo-sandbox: cannot enter the process-limit cgroup $pkg_cgroup" >&2
      exit 101
    }
    exec "$_bwrap" "$@" 3<"$_session/setup.args" 4<"$_session/finish.args"
  )
}
