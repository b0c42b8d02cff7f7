// semver, loaded on first use (only `name@version` grants need it; loading costs ~40 ms).

import { createRequire } from 'node:module';
import type SemVer from 'semver';

let loaded: typeof SemVer | undefined;

export function semver(): typeof SemVer {
  return (loaded ??= createRequire(import.meta.url)('semver') as typeof SemVer);
}
