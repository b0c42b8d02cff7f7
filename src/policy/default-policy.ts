// The default policy of a build script, before any grant: deny by default (no network either;
// grants, including allow-network, are in effective.ts).
// Pure: everything it needs about the host comes in through `PolicyInputs`.

import { join } from 'node:path';
import { DEFAULT_ENV_RULES, type EnvRules } from './environment.js';
import type { ShownPath, SkippedPath } from './build-config.js';

export interface SandboxPolicy {
  /** Top-level system trees shown read-only (or recreated as symlinks on merged-/usr systems). */
  system: readonly string[];
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

export const SYSTEM_TREES = [
  '/usr',
  '/etc',
  '/bin',
  '/sbin',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/opt',
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

/** Host secrets inside the read-only system view (readable by root inside the sandbox otherwise). */
export const SYSTEM_SECRETS = [
  '/etc/shadow',
  '/etc/shadow-',
  '/etc/gshadow',
  '/etc/gshadow-',
  '/etc/sudoers',
  '/etc/sudoers.d',
  '/etc/ssh',
  '/etc/ssl/private',
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
    readOnly: dedupe(readOnly),
    masked: dedupe(masked),
    served: inputs.workspaceSecrets?.gitConfigs ?? [],
    env: DEFAULT_ENV_RULES,
  };
}

function dedupe(paths: readonly string[]): string[] {
  return [...new Set(paths)];
}
