// The real host as the bwrap backend sees it.

import { lstatSync, readlinkSync } from 'node:fs';
import type { HostEntry, HostView } from './bwrap.js';

export const realHost: HostView = {
  entry(path: string): HostEntry {
    try {
      const st = lstatSync(path);
      if (st.isSymbolicLink()) return { type: 'symlink', target: readlinkSync(path) };
      if (st.isDirectory()) return { type: 'dir' };
      return { type: 'file' };
    } catch {
      return { type: 'missing' };
    }
  },
};
