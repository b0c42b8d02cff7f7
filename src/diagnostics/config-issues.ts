// Printing configuration problems the way cargo prints diagnostics: level, message, location, help.

import type { ConfigIssue } from '../config/sandbox-config.js';
import { describeSource } from '../config/types.js';
import type { Reporter } from './style.js';

export function reportIssues(reporter: Reporter, issues: readonly ConfigIssue[]): void {
  for (const issue of issues) {
    reporter.message(issue.level, issue.message);
    reporter.raw(`  --> ${describeSource(issue.source)}\n`);
    for (const h of issue.help) reporter.message('help', h);
  }
}
