export function helpText(version: string): string {
  return `cargo-sandbox ${version}
Run every Cargo build script inside a sandbox (bubblewrap on Linux).

Usage:
  cargo sandbox <CARGO-COMMAND> [ARGS]...     e.g. cargo sandbox build --release
  cargo sandbox +<toolchain> <CARGO-COMMAND> [ARGS]...
  cargo sandbox policy [PKG]...                the effective policy of build scripts, and where
                                              each grant comes from
  cargo sandbox audit [OPTIONS] [ARGS]...     build with every build script traced; report what each
                                              did (--format table|json, --html FILE); --suggest the
                                              least grants that pass (never secrets or the network
                                              unless --suggest-risky), --write them (docs/audit.md)
  cargo sandbox trust [--show|--list|--revoke] what this workspace's own config and toolchain file
                                              would run and grant; trust them as they are now
  cargo sandbox doctor                        check that the sandbox works on this machine
  cargo sandbox proc-macro-server             rust-analyzer's proc-macro server, sandboxed
                                              (also installed as cargo-sandbox-proc-macro-srv)
  cargo-sandbox <CARGO-COMMAND> [ARGS]...     the same, without going through cargo

Any cargo command works (build, check, test, run, clippy, doc, ...). Its arguments reach cargo
unchanged, cargo's output is untouched and its exit code is returned.

By default each build script runs with: no network; the home directory hidden except the Rust
toolchain; the environment reduced to what build scripts need; writes only to its OUT_DIR and a
private /tmp; its own PID namespace, no process outliving it.

Grants for one build (taken out of cargo's arguments; PKG: optional package name):
  --allow-network[=PKG,...]      share the host network
  --allow-read=[PKG:]PATH        make PATH visible, read-only
  --allow-write=[PKG:]PATH       make PATH writable
  --allow-env=[PKG:]VAR,...      pass these environment variables
  --allow-exec=[PKG:]PROG,...    let it execute only these programs (Landlock)
  --sandbox-run                  also confine test, bench, example and run binaries

Lasting grants go in .cargo/config.toml: [sandbox] and [sandbox.package.NAME] tables
(see docs/configuration.md).

Options:
  -h, --help       Print this help
  -V, --version    Print the version

See the README for what is and is not protected.
`;
}
