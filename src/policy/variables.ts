// The environment variables that matter to the sandbox, from their one definition:
// libexec/schema/variables.json, which the compiled helpers read too (libexec/shared/variables.rs).

import { libexecSchema } from '../paths.js';

interface VariablesSchema {
  groups: Record<string, { why: string; patterns: string[] }>;
  uses: Record<string, { where: string; groups: string[] }>;
}

const SCHEMA = libexecSchema<VariablesSchema>('variables.json');

export type VariableUse = 'scrubbed-by-entry-points' | 'refused-in-rustc-env' | 'never-passed-into-a-sandbox';

/** The patterns of one use of variables.json: its groups' patterns, in order. */
export function variablePatterns(use: VariableUse): string[] {
  const groups = SCHEMA.uses[use]?.groups;
  if (!groups) throw new Error(`no use \`${use}\` in libexec/schema/variables.json`);
  return groups.flatMap((g) => {
    const group = SCHEMA.groups[g];
    if (!group) throw new Error(`libexec/schema/variables.json: \`${use}\` names an unknown group \`${g}\``);
    return group.patterns;
  });
}
