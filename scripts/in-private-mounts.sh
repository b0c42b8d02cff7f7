#!/usr/bin/env bash
# Runs a command (the test suite: `npm test`) in a private mount namespace in which /etc, /home and
# /run are copy-on-write overlays of the machine's own. Inside, the tests and everything they start
# (the tool, plain cargo, the sandbox) see the real host and change it as they would change a real
# one: secrets planted in /etc, homes under /home, sockets under /run/user/<uid>, /etc/hosts. The
# machine's own directories are not changed; this script checks that from outside, afterwards: a
# listing of /etc, /home and /run (type, mode, owner, size, modification and change times) and the
# bytes of every file of /etc, before and after. Any difference fails the run.
#
# Usage: scripts/in-private-mounts.sh COMMAND [ARGS...]
# Needs root (unshare --mount, mount -t overlay): as another user it runs COMMAND as it is, with a
# warning (such a user can change none of /etc, /home or /run but its own /run/user/<uid>).
# CARGO_SANDBOX_TEST_GUARD_IGNORE: an extended regular expression of paths the check ignores (a
# desktop session or a daemon that writes /run while the suite runs); none by default.
set -euo pipefail

GUARDED=(/etc /home /run)

if [[ "${1:-}" == --inside ]]; then
  # In the new namespace: each guarded directory becomes an overlay whose lower layer is the
  # machine's directory and whose upper layer (what the tests write) is under $state.
  state=$2
  shift 2
  for dir in "${GUARDED[@]}"; do
    name=${dir#/}
    mkdir -p "$state/$name/upper" "$state/$name/work"
    chmod --reference="$dir" "$state/$name/upper"
    chown --reference="$dir" "$state/$name/upper"
    mount -t overlay "cargo-sandbox-tests-$name" -o "lowerdir=$dir,upperdir=$state/$name/upper,workdir=$state/$name/work" "$dir"
  done
  # The layers stay reachable by the overlays only: no test sees them under /tmp.
  mount -t tmpfs -o mode=0700,size=16k cargo-sandbox-tests-layers "$state"
  exec "$@"
fi

if [[ $# -eq 0 ]]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "warning: not root: the tests run in this mount namespace (only root can give them a private one)" >&2
  exec "$@"
fi

for dir in "${GUARDED[@]}"; do
  if [[ ! -d $dir || -L $dir ]]; then
    echo "error: $dir is not a directory on this machine: no overlay can keep the tests' changes off it" >&2
    exit 1
  fi
done

if ! unshare --mount --propagation private true; then
  echo "error: no private mount namespace here (unshare --mount): the tests would change this machine's /etc, /home and /run" >&2
  exit 1
fi

# What the tests must leave as it was: every entry (not following links, crossing into other
# file systems mounted below), and the bytes of /etc's files.
listing() {
  {
    find "${GUARDED[@]}" -printf '%p\t%y %m %U:%G %s %T@ %C@\n' 2>/dev/null || true
    find /etc -type f -print0 2>/dev/null | xargs -0 -r sha256sum 2>/dev/null | sed -E 's/^([0-9a-f]{64})  (.*)$/\2\tsha256 \1/' || true
  } | LC_ALL=C sort | { if [[ -n ${CARGO_SANDBOX_TEST_GUARD_IGNORE:-} ]]; then grep -Ev -- "$CARGO_SANDBOX_TEST_GUARD_IGNORE" || true; else cat; fi; }
}

state=$(mktemp -d /tmp/cargo-sandbox-test-mounts.XXXXXX)
before=$(mktemp /tmp/cargo-sandbox-test-guard.XXXXXX)
after=$(mktemp /tmp/cargo-sandbox-test-guard.XXXXXX)
cleanup() { rm -rf -- "$state" "$before" "$after"; }
trap cleanup EXIT

listing >"$before"
status=0
# The tests can find this shell (and its mount namespace, /proc/PID/root) through this variable,
# to check from inside that what they write does not reach it.
CARGO_SANDBOX_TEST_OUTER_PID=$$ unshare --mount --propagation private -- bash "$0" --inside "$state" "$@" || status=$?
listing >"$after"

if ! cmp -s "$before" "$after"; then
  kept=$(mktemp /tmp/cargo-sandbox-test-guard-diff.XXXXXX)
  diff "$before" "$after" | grep '^[<>]' >"$kept" || true
  echo "error: the machine's own /etc, /home or /run changed while the tests ran: $(wc -l <"$kept") lines of the listing differ (all in $kept), the first below (< before, > after). The tests' own writes stay in their private mount namespace: if these are not theirs, another program changed them meanwhile." >&2
  sed -n '1,60p' "$kept" >&2
  exit 1
fi
echo "# /etc, /home and /run of this machine are as they were before the tests ($(wc -l <"$before") entries checked)"
exit "$status"
