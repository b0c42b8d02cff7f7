#!/usr/bin/env bash
# Installs what cargo-sandbox, its demo and its tests need on a Debian/Ubuntu machine:
# bubblewrap, C toolchain bits, and real crates from Debian's packaged registry
# (/usr/share/cargo/registry, used as an offline directory source), then the npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  bubblewrap pkg-config gcc make libc6-dev git
  libssl-dev zlib1g-dev libsqlite3-dev libzstd-dev libbz2-dev libgit2-dev
  librust-openssl-sys-dev librust-libsqlite3-sys-dev librust-libz-sys-dev librust-zstd-sys-dev
  librust-ring-dev librust-bzip2-sys-dev librust-curl-sys-dev librust-libgit2-sys-dev
  librust-serde-derive-dev librust-serde-dev librust-tokio-dev librust-cc-dev librust-pkg-config-dev
  librust-pyo3-build-config-dev
  # Debian's rustc 1.63 has the wasm32-wasi standard library (rustup's toolchain stays first in PATH)
  rustc libstd-rust-dev-wasm32 lld
  # `cargo sandbox audit` observes build scripts with strace; its HTML page is tested in Chromium
  strace chromium
  # keyctl: the proc-macro server tests put a secret in a kernel keyring for a macro to try
  keyutils
  # Debian's own cargo (1.65, /usr/bin/cargo; rustup's stays first in PATH): the test that it is refused
  cargo
)

# `bash scripts/setup.sh --bench`: also the crates of bench/workspace (npm run bench).
BENCH_PACKAGES=(
  librust-ahash-dev librust-backtrace-dev librust-crc32fast-dev librust-crossbeam-epoch-dev
  librust-crossbeam-utils-dev librust-indexmap-dev librust-io-lifetimes-dev librust-lock-api-dev
  librust-log-dev librust-memchr-dev librust-memoffset-dev librust-parking-lot-core-dev
  librust-rayon-core-dev librust-rustix-dev librust-tiny-keccak-dev librust-unicase-dev
  librust-unicode-linebreak-dev librust-erased-serde-dev librust-cpp-demangle-dev librust-crunchy-dev
  librust-valuable-dev librust-proc-macro-hack-dev librust-proc-macro-error-dev librust-clang-sys-dev
  librust-libssh2-sys-dev
  # bench/macro-workspace: derives and attribute macros
  librust-clap-3-dev librust-clap-derive-3-dev librust-tokio-macros-dev librust-tracing-dev
)
[ "${1:-}" != --bench ] || APT_PACKAGES+=("${BENCH_PACKAGES[@]}")

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund
fi
# The package ships built JavaScript (installing it runs nothing); a clone builds it here.
npm run --silent build
