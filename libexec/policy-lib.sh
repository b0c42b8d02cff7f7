# Sourced by the launchers (build scripts, test binaries) and the rustc wrapper: the parts of a
# session's policy they share. Functions only; no process is started.

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
scrub_env() {
  while IFS= read -r line; do
    case $line in "export "*) ;; *) continue ;; esac
    name=${line#export }
    name=${name%%=*}
    case $name in '' | [0-9]* | *[!A-Za-z0-9_]*) continue ;; esac
    pkg_allow_env "$name" || keep_env "$name" || unset "$name" 2>/dev/null
  done <<EOF_ENV
$(export -p)
EOF_ENV
  export TMPDIR=/tmp
}
