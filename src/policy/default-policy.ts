// The default policy of a build script, before any grant: deny by default (no network either;
// grants, including allow-network, are in effective.ts).
// Pure: everything it needs about the host comes in through `PolicyInputs`.

import { join } from 'node:path';
import { DEFAULT_ENV_RULES, type EnvRules } from './environment.js';
import type { ShownPath, SkippedPath } from './build-config.js';

export interface SandboxPolicy {
  /** Top-level system trees shown read-only (or recreated as symlinks on merged-/usr systems). */
  system: readonly string[];
  /** The entries of /etc shown read-only (links recreated); the rest of /etc is not there. */
  etc: readonly string[];
  /** Host paths visible read-only at the same path. */
  readOnly: readonly string[];
  /** Paths never visible, even inside a visible tree. */
  masked: readonly string[];
  /** Files shown with other content (git config without credentials): path -> content. */
  served: readonly ServedFile[];
  env: EnvRules;
  /** Paths the user's build-configuration variables name (build-config.ts), shown and not. */
  buildConfig?: { shown: readonly ShownPath[]; skipped: readonly SkippedPath[] };
}

export interface ServedFile {
  path: string;
  content: string;
}

export interface PolicyInputs {
  home: string;
  cargoHome: string;
  rustupHome: string | undefined;
  workspaceRoot: string;
  /** The workspace's `.env` files and credential-bearing git config (src/policy/workspace-secrets.ts). */
  workspaceSecrets?: { envFiles: readonly string[]; gitConfigs: readonly ServedFile[] };
}

/** Shown whole. Not /etc: only `ETC_SHOWN` of it (it holds the host's configuration and secrets). */
export const SYSTEM_TREES = [
  '/usr',
  '/bin',
  '/sbin',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/opt',
] as const;

/**
 * What of /etc a build needs: the rest (service configuration with its passwords, `admin.conf`,
 * `debian.cnf`, `gitconfig`, `npmrc`, `pip.conf`, the machine's identity) is not in the sandbox.
 * An allow-list: a file a distribution or a service adds later stays hidden. Each entry that
 * exists costs every sandboxed process a bind mount (~0.17 ms here; a link is recreated without
 * one), so the list holds what programs a build runs read, not what they could use: absent are
 * `host.conf`, `gai.conf`, `timezone`, `debian_version`, `locale.alias`, `mime.types` (glibc and
 * the tools have defaults), `machine-id` (a stable identifier of the host, which no build needs).
 */
export const ETC_SHOWN = [
  // The dynamic loader's cache, and its configuration (GNU ld finds shared libraries' own
  // dependencies through it).
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  // Users and groups by name (tar, `ls -l`, `id`, git), and how glibc looks them up; never shadow.
  '/etc/passwd',
  '/etc/group',
  '/etc/nsswitch.conf',
  // Which system this is (a link into /usr on most systems).
  '/etc/os-release',
  '/etc/lsb-release',
  // TLS roots and OpenSSL's configuration, not the keys: Debian's /etc/ssl; Arch's bundle in
  // /etc/ca-certificates/extracted; Fedora's /etc/pki, whose OpenSSL configuration includes
  // /etc/crypto-policies.
  '/etc/ssl/certs',
  '/etc/ssl/openssl.cnf',
  '/etc/ca-certificates/extracted',
  '/etc/pki/tls/certs',
  '/etc/pki/tls/cert.pem',
  '/etc/pki/tls/openssl.cnf',
  '/etc/pki/ca-trust',
  '/etc/crypto-policies',
  // Time zone (a link into /usr/share/zoneinfo).
  '/etc/localtime',
  // Names: `localhost`; the DNS servers for a package with the whole network (network.rs binds
  // its own hosts file over this one for a list); getaddrinfo's service and protocol names.
  '/etc/hosts',
  '/etc/resolv.conf',
  '/etc/services',
  '/etc/protocols',
  // Debian's alternatives: cc, c++, ld, pkg-config, awk, java... in /usr/bin lead through it.
  '/etc/alternatives',
  // Compiler and pkg-config configuration some distributions keep here.
  '/etc/clang',
  '/etc/pkgconfig',
  // The mounts, for tools that ask (a link to /proc on most systems).
  '/etc/mtab',
] as const;

/** Secrets under the home directory; hidden even when a visible tree (e.g. the workspace) holds them. */
export const HOME_SECRETS = [
  '.ssh',
  '.aws',
  '.azure',
  '.config',
  '.gnupg',
  '.netrc',
  '.git-credentials',
  '.docker',
  '.kube',
  '.npmrc',
  '.pypirc',
  '.bash_history',
  '.zsh_history',
  '.python_history',
  '.node_repl_history',
  '.psql_history',
  '.mysql_history',
  '.password-store',
  '.local/share/keyrings',
  '.mozilla',
  '.cargo/credentials',
  '.cargo/credentials.toml',
] as const;

/**
 * Host secrets under /etc (readable by root): outside what /etc shows, but masked again whenever a
 * grant shows a tree that holds them (`allow-read = ["/etc"]`).
 */
export const SYSTEM_SECRETS = [
  '/etc/shadow',
  '/etc/shadow-',
  '/etc/gshadow',
  '/etc/gshadow-',
  '/etc/sudoers',
  '/etc/sudoers.d',
  '/etc/ssh',
  '/etc/ssl/private',
  '/etc/pki/tls/private',
  '/etc/security/opasswd',
  // VPN and network credentials, Kerberos keys, IPsec and PPP secrets, certificates' private keys.
  '/etc/wireguard',
  '/etc/NetworkManager/system-connections',
  '/etc/openvpn',
  '/etc/krb5.keytab',
  '/etc/ipsec.secrets',
  '/etc/ipsec.d/private',
  '/etc/ppp/chap-secrets',
  '/etc/ppp/pap-secrets',
  '/etc/letsencrypt',
] as const;

export function defaultPolicy(inputs: PolicyInputs): SandboxPolicy {
  const readOnly = [
    ...(inputs.rustupHome ? [inputs.rustupHome] : []),
    join(inputs.cargoHome, 'bin'),
    join(inputs.cargoHome, 'registry'),
    join(inputs.cargoHome, 'git'),
    inputs.workspaceRoot,
  ];
  const masked = [
    ...HOME_SECRETS.map((p) => join(inputs.home, p)),
    join(inputs.cargoHome, 'credentials'),
    join(inputs.cargoHome, 'credentials.toml'),
    ...SYSTEM_SECRETS,
    ...(inputs.workspaceSecrets?.envFiles ?? []),
  ];
  return {
    system: SYSTEM_TREES,
    etc: ETC_SHOWN,
    readOnly: dedupe(readOnly),
    masked: dedupe(masked),
    served: inputs.workspaceSecrets?.gitConfigs ?? [],
    env: DEFAULT_ENV_RULES,
  };
}

function dedupe(paths: readonly string[]): string[] {
  return [...new Set(paths)];
}
