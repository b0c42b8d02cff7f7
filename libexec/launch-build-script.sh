# Runs one build script inside bubblewrap. Sourced (not executed: one process start less) by the
# launcher that took the build script's place, which has set `real` to the real binary's name
# beside it. Cargo has set the build-script environment (OUT_DIR, CARGO_MANIFEST_DIR, ...);
# cargo-sandbox has set __CARGO_SANDBOX_SESSION (the policy files written for this build) and
# __CARGO_SANDBOX_BWRAP. POSIX sh on purpose: it runs once per build script, where Node would add
# ~100 ms each time; each process it starts costs milliseconds, so it starts none but bwrap.

fail() {
  echo "error: cargo-sandbox: $*" >&2
  exit 101
}

self=$0
dir=${self%/*}
bin=$dir/$real
session=${__CARGO_SANDBOX_SESSION:-}
bwrap=${__CARGO_SANDBOX_BWRAP:-}
node=${__CARGO_SANDBOX_NODE:-} js=${__CARGO_SANDBOX_JS:-}
confine=${__CARGO_SANDBOX_CONFINE:-}
# `cargo sandbox audit`: strace, run around bwrap (outside the sandbox, where the script cannot
# reach its output), records what the script does.
audit=${__CARGO_SANDBOX_AUDIT:-}
setup=$session/setup.args finish=$session/finish.args
[ -n "$session" ] && [ -d "$session" ] || fail "the sandbox session is missing; run the build through \`cargo sandbox\`"
[ -n "$bwrap" ] || fail "__CARGO_SANDBOX_BWRAP is not set"
[ -n "$confine" ] && [ -x "$confine" ] || fail "the sandbox supervisor (__CARGO_SANDBOX_CONFINE) is missing"
[ -f "$bin" ] || fail "the build script binary \`$bin\` is missing; run \`cargo clean\` and build again"
out=${OUT_DIR:-}
manifest=${CARGO_MANIFEST_DIR:-}
[ -n "$out" ] && [ -d "$out" ] || fail "OUT_DIR is not set or missing"
[ -n "$manifest" ] || fail "CARGO_MANIFEST_DIR is not set"

. "$session/env-filter.sh" || fail "cannot read the sandbox policy in $session"

. "${__CARGO_SANDBOX_LAUNCH%/*}/policy-lib.sh" || fail "cannot read ${__CARGO_SANDBOX_LAUNCH%/*}/policy-lib.sh"
find_package_policy "$session"
pkg_phase=vars
. "$pkgfile" || fail "cannot read the sandbox policy in $pkgfile"
[ -n "$pkg_finish" ] && finish=$pkg_finish

# Remember that this script ran, so that cargo-sandbox can explain a failure after cargo's error
# (with the package's count of refused forks so far: its cgroup may outlive this build).
record=${__CARGO_SANDBOX_RUNS:-$session/runs}/$$
refused=0
[ -z "$pkg_cgroup" ] || while read -r key value; do [ "$key" = max ] && refused=$value; done 2>/dev/null <"$pkg_cgroup/pids.events"
printf '%s\0' "${CARGO_PKG_NAME:-}" "${CARGO_PKG_VERSION:-}" "$out" "$manifest" "$self" "$pkgfile" "$pkg_cgroup" "$refused" > "$record" 2>/dev/null

if [ "$pkg_sandbox" = 0 ]; then
  # The explicit escape hatch (`sandbox = false` for this package): run as plain cargo would.
  unset __CARGO_SANDBOX_SESSION __CARGO_SANDBOX_RUNS __CARGO_SANDBOX_BWRAP __CARGO_SANDBOX_LAUNCH __CARGO_SANDBOX_INNER_WRAPPER
  with_library_path exec "$bin"
fi

# <target>/<profile>/build: other packages' OUT_DIRs, which DEP_* variables point into (read-only).
buildroot=${out%/*/*}

set -- --args 3 \
  --ro-bind "$buildroot" "$buildroot" \
  --ro-bind "$dir" "$dir" \
  --ro-bind "$manifest" "$manifest" \
  --bind "$out" "$out"
pkg_phase=binds
. "$pkgfile"
[ "$pkg_network" = 1 ] || set -- "$@" --unshare-net
# A build script compiled for wasm runs on Node's WASI: Node and our runner must be visible.
case $bin in *.wasm) set -- "$@" --ro-bind "${node%/*}" "${node%/*}" --ro-bind "$js" "$js" ;; esac
set -- "$@" --ro-bind "$confine" "$confine" --args 4 --chdir "$PWD"
# Cargo's library path (build scripts' native search paths) for the script, inside only: the
# static launcher (libexec/entry.rs) removed it, so that neither this shell nor bwrap loads what a
# build script left there. (A custom runner gets none: it runs on the host.)
[ "$pkg_runner" = 1 ] || [ -z "${__CARGO_SANDBOX_LD_LIBRARY_PATH+x}" ] || set -- "$@" --setenv LD_LIBRARY_PATH "$__CARGO_SANDBOX_LD_LIBRARY_PATH"

scrub_env
# The environment the script saw, for a rerun that explains a failure (builtins only: no process).
export -p > "$record.env" 2>/dev/null

if [ "$pkg_runner" = 1 ]; then
  # A configured runner (sandbox.runner) replaces bubblewrap: it is the sandbox.
  pkg_phase=runner
  . "$pkgfile"
  [ -z "$pkg_timeout" ] || set -- timeout --kill-after=5 "$pkg_timeout" "$@"
else
  # Inside bwrap, the supervisor (libexec/confine.rs) adds Landlock, checks cargo directives and
  # output, and sweeps OUT_DIR afterwards; its findings go to fd 6.
  set -- "$bwrap" "$@" --json-status-fd 5 -- "$confine" --out "$out" --report-fd 6
  [ -z "$pkg_max_output" ] || set -- "$@" --max-output "$pkg_max_output"
  [ -z "$pkg_max_disk" ] || set -- "$@" --max-disk "$pkg_max_disk"
  [ -z "$pkg_timeout" ] || set -- "$@" --timeout "$pkg_timeout"
  [ "$pkg_network" = 1 ] || set -- "$@" --no-network
  pkg_phase=confine
  . "$pkgfile"
  case $bin in
    # Two layers: Node's WASI (no security boundary by itself) inside bubblewrap.
    *.wasm) set -- "$@" -- "$node" --no-warnings "$js/backends/wasi-runner.js" "$bin" ;;
    *) set -- "$@" -- "$bin" ;;
  esac
  # Resource limits (max-file-size, max-memory), inherited by everything the script starts.
  # Not for wasm: V8 reserves far more address space than it uses.
  [ -z "$pkg_max_file_blocks" ] || ulimit -f "$pkg_max_file_blocks"
  case $bin in *.wasm) ;; *) [ -z "$pkg_max_memory_kb" ] || ulimit -v "$pkg_max_memory_kb" ;; esac
fi
[ -z "$audit" ] || [ "$pkg_runner" = 1 ] || set -- "$audit" -f -qq -y -s 1024 -o "$record.trace" \
  -e trace=execve,execveat,open,openat,openat2,creat,mkdir,mkdirat,unlink,unlinkat,rename,renameat,renameat2,connect,sendto,sendmsg \
  -- "$@"
# max-processes: this process, and so everything it starts, joins the package's pids cgroup.
[ -z "$pkg_cgroup" ] || { echo $$ > "$pkg_cgroup/cgroup.procs"; } 2>/dev/null || fail "cannot enter the process-limit cgroup $pkg_cgroup"
# bwrap writes the script's exit status to fd 5 (how it ended, e.g. killed by a limit's signal).
exec "$@" 3<"$setup" 4<"$finish" 5>"$record.status" 6>"$record.report"
