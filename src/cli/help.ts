// Help for cargo-sandbox and each of its own commands (`cargo sandbox help TOPIC`, `TOPIC --help`).
// Cargo's commands keep cargo's help: `cargo sandbox build --help`, `cargo sandbox help build`.

import { join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';

export const HELP_TOPICS = ['allow', 'policy', 'audit', 'trust', 'doctor', 'config', 'proc-macro-server'] as const;
export type HelpTopic = (typeof HELP_TOPICS)[number];

/** The installed documentation: a path that exists wherever the package is. */
export const docPath = (name: string) => join(PACKAGE_ROOT, 'docs', name);

const CARGO_OPTIONS = `      --manifest-path <PATH>   Path to Cargo.toml
      --config <KEY=VALUE|PATH>  Override a configuration value (as cargo)
      --color <WHEN>           auto, always, never
  -q, --quiet                  Print less
  -v, --verbose                Print more
  -h, --help                   Print this help`;

export function helpText(version: string): string {
  return `cargo-sandbox ${version}
Run every Cargo build script, proc macro and compilation inside a sandbox (bubblewrap on Linux).

Usage:
  cargo sandbox <CARGO-COMMAND> [ARGS]...     e.g. cargo sandbox build --release
  cargo sandbox +<toolchain> <CARGO-COMMAND> [ARGS]...
  cargo-sandbox <CARGO-COMMAND> [ARGS]...     the same, without rustup's cargo proxy (use it, or
                                              +<toolchain>, in code you just cloned)

Commands of its own (\`cargo sandbox help <COMMAND>\` for each):
  allow PKG [GRANTS]...   grant one package's build script a path, variable or the network, in
                          your cargo config (--read PATH, --env NAME, --network[=HOST:PORT], ...)
  policy [PKG]...         the effective policy of build scripts, and where each grant comes from
  audit [ARGS]...         build with every build script traced; what each did; --suggest grants
  trust                   what this workspace's own config and toolchain file would run and grant;
                          trust them as they are now (--show, --list, --revoke)
  doctor                  check that the sandbox works on this machine
  proc-macro-server       rust-analyzer's proc-macro server, sandboxed
                          (also installed as cargo-sandbox-proc-macro-srv)
  help config             where the configuration is documented, and its keys

Cargo's own commands work, each confined (build, check, test, run, clippy, doc, fix,
clippy --fix, install, ...); miri, nextest and other external cargo-* subcommands are refused,
with the reason (README: "Every cargo command"). Arguments reach cargo unchanged, cargo's output
is untouched and its exit code is returned. \`cargo sandbox help build\`
and \`cargo sandbox build --help\` are cargo's help.

By default each build script runs with: no network; the home directory hidden except the Rust
toolchain; the environment reduced to what build scripts need; writes only to its OUT_DIR and a
private /tmp; its own PID namespace, no process outliving it.

Grants for one build (taken out of cargo's arguments; PKG: optional package name):
  --allow-network[=PKG,...]      share the host network
  --allow-network=PKG:DEST,...   only these destinations, HOST or HOST:PORT (e.g.
                                 sqlx-macros:127.0.0.1:5432); a proc-macro package's network
                                 grant also applies to the compilations that load its macros
  --allow-read=[PKG:]PATH        make PATH visible, read-only
  --allow-write=[PKG:]PATH       make PATH writable
  --allow-env=[PKG:]VAR,...      pass these environment variables
  --allow-exec=[PKG:]PROG,...    let it execute only these programs (Landlock)
  --sandbox-run                  also confine test, bench, example and run binaries

Lasting grants go in cargo's config: [sandbox] and [sandbox.package.NAME] tables
(\`cargo sandbox help config\`); \`cargo sandbox allow PKG --read PATH\` writes them for you.

Options:
  -h, --help       Print this help
  -V, --version    Print the version

What is and is not protected: ${join(PACKAGE_ROOT, 'README.md')}, ${join(PACKAGE_ROOT, 'THREAT-MODEL.md')}
`;
}

const TOPICS: Record<HelpTopic, string> = {
  allow: `Grant one package's build script something, in your cargo config

Usage: cargo sandbox allow <PACKAGE>[@=VERSION] [GRANTS]... [OPTIONS]

Adds the grants to [sandbox.package.PACKAGE] in your own cargo config ($CARGO_HOME/config.toml,
~/.cargo/config.toml by default), merged into the table if it exists: nothing is written twice,
comments and the rest of the file stay as they are. PACKAGE@=VERSION pins the grants to that
version (a new version runs with the default policy until allowed again).

Grants (each may be repeated; each is the key of the same name in [sandbox.package.NAME]):
      --read <PATH>            allow-read: make PATH visible, read-only
      --write <PATH>           allow-write: make PATH writable
      --env <NAME>             allow-env: pass this environment variable (\`OPENSSL_*\`: a pattern)
      --exec <PROGRAM>         allow-exec: let it execute only the programs listed
      --network                allow-network = true: share the host's whole network
      --network=<HOST:PORT>    allow-network: only this destination (added to its list)
      --timeout <DURATION>     timeout ("15m")
      --max-memory <SIZE>      max-memory ("8GiB"); also --max-file-size, --max-output,
                               --max-disk <SIZE> and --max-processes <N>
      --target <TARGET>        target: "native", or a WebAssembly target

Options:
      --workspace              write this workspace's .cargo/config.toml instead (it stays
                               trusted if it was; an untrusted one stays untrusted)
      --manifest-path <PATH>   Path to Cargo.toml (with --workspace)
      --color <WHEN>           auto, always, never
  -q, --quiet                  Print less
  -h, --help                   Print this help

Paths: absolute, \`~/...\`, or relative to the current directory. A denial note after a failed
build prints the command that allows what was denied.

Details: ${docPath('configuration.md')}
`,
  policy: `The effective policy of build scripts, and where each grant comes from

Usage: cargo sandbox policy [OPTIONS] [PKG]...

Without PKG: one row per package with a build script. With PKG: every key that applies to its
build script and compilations (grants, limits, programs, how it runs, what stays hidden).

Options:
      --format <FORMAT>        table (default) or json
      --allow-*=...            one-off grants, as for a build (shown with their source)
${CARGO_OPTIONS}
`,
  audit: `Build with every build script traced, and report what each did

Usage: cargo sandbox audit [OPTIONS] [CARGO-BUILD-ARGS]...

Options:
      --format <FORMAT>        table (default) or json (documented schema)
      --html <FILE>            also write a self-contained HTML report
      --trace-limit <SIZE>     strace output per sandboxed process before it is stopped
                               (default 64MiB)
      --suggest                build again with the least grants the failed scripts need, and
                               print them (reads of the workspace, toolchain and public system
                               trees only: never the home, hidden /etc, writes or the network)
      --suggest-risky          the same, including those
      --write                  write the suggested grants to .cargo/config.toml and record
                               cargo-sandbox.lock
  -h, --help                   Print this help
Other arguments go to \`cargo build\`.

Details: ${docPath('audit.md')}
`,
  trust: `What this workspace's own config and toolchain file would run and grant; trust them

Usage: cargo sandbox trust [--show | --list | --revoke]

A workspace's .cargo/config.toml (and any in a parent directory that is not yours) and its
rust-toolchain.toml are untrusted until trusted: what they name that would run on the host stops
the build, and their [sandbox] grants are ignored. Trust is per file, by content: a change makes it
untrusted again.

Options:
      --show                   only show what the files would run and grant
      --list                   list every trusted workspace
      --revoke                 forget this workspace
${CARGO_OPTIONS}

Details: ${docPath('configuration.md')} ("Whose configuration")
`,
  doctor: `Check that the sandbox works on this machine

Usage: cargo sandbox doctor [OPTIONS]

Checks bubblewrap and namespaces, the supervisor and the helper cache, Landlock, the pids cgroup,
cargo (its version), rustc, strace (for audit), and whether this workspace is trusted.

Options:
      --color <WHEN>           auto, always, never
  -h, --help                   Print this help
`,
  config: `Configuration: [sandbox] tables in cargo's config files

  [sandbox]                          every build script
  [sandbox.package.NAME]             one package ("NAME@0.9": a version requirement)
    allow-network = true             allow-read = ["PATH", ...]     allow-write = ["PATH", ...]
    allow-env = ["VAR", ...]         allow-exec = ["PROGRAM", ...]  sandbox = false (escape hatch)
    timeout = "15m"                  max-memory, max-file-size, max-disk, max-output ("8GiB")
    max-processes = 1024             runner = ["wasmtime", "{}"]    target = "wasm32-wasip1"
    allow-network = ["github.com:443", "*.example.com:443", "127.0.0.1:5432", "[::1]:5432"]
                                     only these destinations (HOST, or HOST:PORT; no port: any);
                                     a proc-macro package's network grant (a list or true) also
                                     applies to the compilations that load its macros
  [sandbox] only: proc-macros = false, run = true, bwrap = "/path/to/bwrap"

Also --config sandbox.KEY=VALUE, CARGO_SANDBOX_* variables and --allow-* flags. A workspace's own
config applies after \`cargo sandbox trust\`.

Every key, with defaults and examples: ${docPath('configuration.md')}
What the default policy allows: ${docPath('policy.md')}
`,
  'proc-macro-server': `rust-analyzer's proc-macro server, inside the sandbox

Usage: cargo-sandbox-proc-macro-srv   (set as rust-analyzer.procMacro.server;
                                      \`cargo sandbox doctor\` prints the path of a launcher
                                      that needs no Node on the editor's PATH)

Runs the toolchain's rust-analyzer-proc-macro-srv in bubblewrap and the supervisor, as builds run
compilations: one server per workspace whose macros the editor asks for, seeing that workspace,
its target dir and the toolchain read-only; no network, no home, no secrets, no kernel keyring; the
workspace's max-memory, max-file-size and max-processes, and its timeout for each request.
`,
};

export function topicHelp(topic: HelpTopic): string {
  return TOPICS[topic];
}
