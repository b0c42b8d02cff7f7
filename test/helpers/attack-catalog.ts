// The shared attack workspace's catalogue (test/e2e/attacks.test.ts): which attacks run, the
// listener each reaches for and what it sends there, the secrets each must take under plain cargo.

import type { SinkSpec } from './attack-sinks.js';
import type { SECRETS } from './sandbox-env.js';

/** The listeners the attacks reach for, each its own, and what its attack sends there. */
export const SINKS: (SinkSpec & { sends: RegExp })[] = [
  { attack: 'attack-network', param: 'tcp_port', kind: 'tcp', sends: /^PWNED attack-network$/ },
  { attack: 'attack-network', param: 'udp_port', kind: 'udp', sends: /^PWNED attack-network$/ },
  { attack: 'attack-network', param: 'unix_socket', kind: 'unix', sends: /^PWNED attack-network$/ },
  { attack: 'attack-abstract-socket', param: 'abstract_socket', kind: 'abstract', sends: /^PWNED attack-abstract-socket$/ },
  // A DNS query for secret.exfil.example, to a resolver here and one on another "host".
  { attack: 'attack-dns', param: 'dns_port', kind: 'udp', sends: /\x06secret\x05exfil\x07example\x00/ },
  { attack: 'attack-dns', param: 'outside_dns', kind: 'outside-udp', sends: /\x06secret\x05exfil\x07example\x00/ },
  { attack: 'attack-outside-net', param: 'outside_addr', kind: 'outside-tcp', sends: /^HEAD \/ HTTP\/1\.0\r\nHost: exfil\.example\r\n/ },
  { attack: 'attack-dbus', param: 'dbus_socket', kind: 'unix', sends: /^PWNED attack-dbus$/ },
  { attack: 'attack-x11', param: 'x11_socket', kind: 'x11', sends: /^PWNED attack-x11$/ },
  { attack: 'attack-docker', param: 'docker_socket', kind: 'unix', sends: /^PWNED attack-docker$/ },
];

/** Under plain cargo: one connection each, but two to the X server (its socket file and abstract twin). */
export function expectedArrivals(sink: SinkSpec): number {
  return sink.kind === 'x11' ? 2 : 1;
}

export const ATTACKS = [
  'attack-read-secrets',
  'attack-env',
  'attack-proc',
  'attack-write-home',
  'attack-write-workspace',
  'attack-write-target',
  'attack-network',
  'attack-daemon',
  'attack-setuid',
  'attack-links',
  'attack-abstract-socket',
  'attack-namespaces',
  'attack-parent-memory',
  'attack-proc-root',
  'attack-proc-fd',
  'attack-mountinfo',
  'attack-tmp-snoop',
  'attack-registry-src',
  'attack-link-arg',
  'attack-dns',
  'attack-outside-net',
  'attack-dbus',
  'attack-x11',
  'attack-docker',
  'attack-kill-processes',
  'attack-ptrace',
  'attack-crafted-directives',
  'attack-system-secrets',
  'attack-workspace-secrets',
];

export const ENV_TOKENS = ['envGithubToken', 'envAws', 'envRegistryToken', 'envCustom', 'envOddName'] as const;

/** The secrets each attack goes after, and must get under plain cargo, in its own loot. */
export const LOOT: Record<string, readonly (keyof typeof SECRETS)[]> = {
  'attack-read-secrets': ['sshKey', 'awsKey', 'gitCredential', 'netrc', 'cargoToken', 'kube', 'docker', 'gh', 'history', 'browser', 'npmrc', 'homeDocument'],
  'attack-env': ENV_TOKENS,
  'attack-proc': ENV_TOKENS,
  'attack-parent-memory': ENV_TOKENS,
  'attack-proc-root': ['sshKey', 'gitCredential'],
  'attack-proc-fd': ['openFile'],
  'attack-tmp-snoop': ['tmpToken'],
  'attack-ptrace': ['ptrace'],
  'attack-workspace-secrets': ['dotEnv', 'dotEnvMember', 'gitExtraheader', 'gitUrlToken'],
};

export const PWNED_IN_HOME = ['PWNED-BY-LINKER', 'PWNED-BY-LD_PRELOAD', 'PWNED-BY-PATH', 'PWNED-BY-INJECTION'];
