// The cargo configuration keys an untrusted workspace may set without being trusted: an allow-list.
// Cargo reads many keys, and new ones arrive with every release; a key that names a program, a
// library, a path where outputs go, a token or a variable for the host is only as safe as our
// knowledge of it. So only the keys below pass silently; the few handled one by one in
// workspace-trust.ts are confined, ignored or refused there (linkers, flags, runners, aliases,
// includes, target-dir, [sandbox]); everything else is refused until `cargo sandbox trust`.
// Patterns are key paths: `*` is any one key, `**` (last) is any number of keys below.

type Pattern = readonly string[];

const p = (dotted: string): Pattern => dotted.split('.');

/** Codegen options: they change what the sandboxed rustc produces, nothing it may reach. */
const PROFILE_KEYS = ['opt-level', 'debug', 'split-debuginfo', 'strip', 'debug-assertions', 'overflow-checks', 'lto', 'panic', 'incremental', 'codegen-units', 'rpath'];

/** What a dependency in `[patch]` may say: where its code comes from. */
const DEPENDENCY_KEYS = ['version', 'path', 'git', 'branch', 'tag', 'rev', 'package', 'registry', 'registry-index', 'features', 'default-features'];

const GROUPS: readonly { why: string; keys: readonly Pattern[] }[] = [
  {
    // How cargo schedules and caches, and the paths it writes into dep-info files: nothing runs,
    // nothing lands outside the target dir.
    why: 'scheduling and caching',
    keys: ['build.jobs', 'build.incremental', 'build.dep-info-basedir', 'build.pipelining'].map(p),
  },
  {
    // The platform compiled for: a name, or a target spec file that only the sandboxed rustc reads
    // (its linker runs in the sandbox too). The `target/<triple>` layout it implies is checked by
    // every sandboxed step (THREAT-MODEL case 93).
    why: 'the target platform',
    keys: [p('build.target')],
  },
  {
    // Cargo's own output on the user's terminal (escape sequences pass with colour on anyway).
    why: "cargo's output",
    keys: ['term.quiet', 'term.verbose', 'term.color', 'term.hyperlinks', 'term.unicode', 'term.progress.when', 'term.progress.width', 'term.progress.term-integration'].map(p),
  },
  {
    // Retries, timeouts and offline mode: how hard cargo tries, not where it connects or whom it
    // trusts (proxies, CA files, TLS versions, ssh host keys and git-over-CLI are refused).
    why: "cargo's network behaviour",
    keys: ['net.retry', 'net.offline', 'http.timeout', 'http.low-speed-limit', 'http.multiplexing', 'http.user-agent', 'registries.*.protocol'].map(p),
  },
  {
    // Reports and resolution preferences: which versions are picked, among those Cargo.toml allows.
    why: 'reports and version resolution',
    keys: ['future-incompat-report.frequency', 'resolver.incompatible-rust-versions'].map(p),
  },
  {
    // Codegen of compilations, all of which run in the sandbox; the workspace's Cargo.toml can set
    // the same in its own [profile] anyway.
    why: 'codegen inside the sandbox',
    keys: [
      p('profile.*.inherits'),
      ...PROFILE_KEYS.flatMap((k) => [p(`profile.*.${k}`), p(`profile.*.build-override.${k}`), ['profile', '*', 'package', '*', k]]),
    ],
  },
  {
    // Where dependency sources come from (vendored `directory` sources, mirrors, [patch]): this
    // changes which code is built, but all of it is compiled and its build scripts run confined,
    // and the workspace's Cargo.toml can already name any path, git or registry dependency and
    // [patch] it. No token goes to a replacement source (tokens follow [registries], refused).
    // Its vendored sources declare their own checksums, which cargo does not verify: any [source]
    // key here voids every checksum-pinned approval (source-replacement.ts, THREAT-MODEL case 118).
    why: 'which code is built (confined, as any dependency)',
    keys: [
      ...['replace-with', 'directory', 'registry', 'local-registry', 'git', 'branch', 'tag', 'rev'].map((k) => ['source', '*', k]),
      p('patch.*.*'),
      ...DEPENDENCY_KEYS.map((k) => ['patch', '*', '*', k]),
    ],
  },
];

/**
 * Keys handled one by one in workspace-trust.ts: listed here only so that an empty table above
 * them (`[alias]`, `[target.x86_64-unknown-linux-gnu]`) is known to do nothing.
 */
const HANDLED: readonly Pattern[] = ['sandbox.**', 'alias.*', 'env.**', 'unstable.**', 'include', 'doc.browser', 'registry.**', 'registries.**', 'credential-alias.**', 'target.*.linker', 'build.target-dir'].map(p);

function segmentMatches(pattern: Pattern, path: readonly string[], i: number): boolean | 'rest' {
  if (pattern[i] === '**' && i === pattern.length - 1) return 'rest';
  return pattern[i] === '*' || pattern[i] === path[i];
}

/** The path is exactly one of the pattern's keys (`**` spans one or more). */
function matches(pattern: Pattern, path: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    if (i >= path.length) return false;
    const m = segmentMatches(pattern, path, i);
    if (m === 'rest') return true;
    if (!m) return false;
  }
  return pattern.length === path.length;
}

/** The path is a table above one of the pattern's keys. */
function above(pattern: Pattern, path: readonly string[]): boolean {
  if (path.length >= pattern.length && pattern.at(-1) !== '**') return false;
  for (let i = 0; i < path.length; i++) {
    const m = segmentMatches(pattern, path, i);
    if (m === 'rest') return true;
    if (!m) return false;
  }
  return true;
}

/** A key an untrusted workspace may set: it changes nothing outside the sandbox. */
export function allowedKey(path: readonly string[]): boolean {
  return GROUPS.some((g) => g.keys.some((k) => matches(k, path)));
}

/** An empty table that holds (or could hold) only known keys: it does nothing by being there. */
export function harmlessEmptyTable(path: readonly string[]): boolean {
  return [...GROUPS.flatMap((g) => g.keys), ...HANDLED].some((k) => above(k, path));
}

/** Keys of `[target.<triple>]` that cargo documents; any other table there overrides a build script. */
export const TARGET_KEYS = new Set(['linker', 'runner', 'rustflags', 'rustdocflags']);

/** Why some well-known keys are refused, for the message; the rest get the general reason. */
const REFUSED: readonly [Pattern, (value: string) => string][] = [
  [p('registries.*.index'), (v) => `points a registry at \`${v}\`: cargo would send your token for that registry there`],
  [p('registry.index'), (v) => `points crates.io at \`${v}\`: cargo would send your token there`],
  [p('registries.*.token'), () => 'sets a registry token: your commands would act as its owner'],
  [p('registry.token'), () => 'sets a registry token: your commands would act as its owner'],
  [p('registry.default'), (v) => `makes \`${v}\` the registry \`cargo publish\` sends to`],
  [p('http.proxy'), (v) => `sends cargo's downloads and uploads (with your tokens) through \`${v}\``],
  [p('http.cainfo'), (v) => `makes cargo trust the certificates in \`${v}\``],
  [p('http.proxy-cainfo'), (v) => `makes cargo trust the proxy certificates in \`${v}\``],
  [p('http.ssl-version'), (v) => `sets the TLS versions cargo accepts: \`${v}\``],
  [p('http.check-revoke'), () => 'turns certificate revocation checks off or on'],
  [p('net.git-fetch-with-cli'), () => 'runs `git` on the host to fetch git dependencies (with its own configuration and helpers)'],
  [p('net.ssh.known-hosts'), () => 'adds ssh host keys cargo trusts for git dependencies'],
  [p('install.root'), (v) => `puts \`cargo install\`'s binaries in \`${v}\`, where they run later`],
  [p('paths'), (v) => `replaces dependencies with the packages at \`${v}\``],
  [p('build.build-dir'), (v) => `puts the build's intermediate outputs in \`${v}\`, which cargo-sandbox does not check`],
  [p('cargo-new.vcs'), (v) => `runs \`${v}\` on the host for \`cargo new\``],
];

/** What an unlisted key would do, as far as we know. */
export function refusedKeyReason(path: readonly string[], value: string): string {
  const known = REFUSED.find(([k]) => matches(k, path));
  if (known) return known[1](value);
  return 'is not a key cargo-sandbox knows to be safe here: cargo may use it to run a program, load a library, or reach a path, a token or a variable on the host';
}
