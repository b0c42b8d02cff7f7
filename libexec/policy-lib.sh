# Sourced by the launchers (build scripts, test binaries) and the rustc wrapper: the parts of a
# session's policy they share. Functions only; no process is started.

# Runs a program on the host with cargo's library path back: the static entry point
# (libexec/entry.rs) moved LD_LIBRARY_PATH aside, so that no shell or bwrap of ours loads what a
# build script left in the directories it names; rustc, rustdoc or an unsandboxed build script get
# it as plain cargo gives it. (`with_library_path exec PROGRAM ARGS...` replaces the shell.)
with_library_path() {
  if [ -n "${__CARGO_SANDBOX_LD_LIBRARY_PATH+x}" ]; then
    LD_LIBRARY_PATH=$__CARGO_SANDBOX_LD_LIBRARY_PATH
    export LD_LIBRARY_PATH
  fi
  unset __CARGO_SANDBOX_LD_LIBRARY_PATH
  "$@"
}

# Sets `pkgfile`: this package's grants, the most specific file the session has
# (name@version, name, or the default).
find_package_policy() {
  pkgfile=$1/packages/${CARGO_PKG_NAME:-}@${CARGO_PKG_VERSION:-}.sh
  [ -f "$pkgfile" ] || pkgfile=$1/packages/${CARGO_PKG_NAME:-}.sh
  [ -f "$pkgfile" ] || pkgfile=$1/packages/_default.sh
}

# Unsets every variable that neither the package's grants (pkg_allow_env) nor the default rules
# (keep_env) let through. Done before bwrap starts: bwrap's own process stays visible inside the
# sandbox as PID 1, and its /proc/1/environ would give away everything it was started with.
# One fork for the list, then field splitting in memory (a `read` loop reads byte by byte).
# Only lines that start with `export ` name a variable; a value's own lines are skipped, and every
# variable has its own line.
scrub_env() {
  _env=$(export -p)
  _ifs=$IFS
  IFS='
'
  set -f
  for _line in $_env; do
    case $_line in "export "*) ;; *) continue ;; esac
    _name=${_line#export }
    _name=${_name%%=*}
    case $_name in '' | [0-9]* | *[!A-Za-z0-9_]*) continue ;; esac
    pkg_allow_env "$_name" || keep_env "$_name" || unset "$_name" 2>/dev/null
  done
  set +f
  IFS=$_ifs
  unset _env _ifs _line _name
  export TMPDIR=/tmp
}
