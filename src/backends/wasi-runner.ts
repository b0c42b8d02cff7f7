// The built-in WASI runner: runs a build script compiled for wasm32-wasi(p1) on Node's WASI
// (preview1), inside bubblewrap (Node documents its WASI as no security boundary by itself).
// OUT_DIR and CARGO_MANIFEST_DIR are preopened at their host paths, so paths the script prints
// (`cargo:rustc-link-search={OUT_DIR}`) stay valid, and the package directory as `.`; the environment is the (already scrubbed)
// build-script environment; stdout and stderr go straight to cargo.
//
//   node wasi-runner.js SCRIPT.wasm

import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';

export function preopensFor(env: NodeJS.ProcessEnv, cwd: string): Record<string, string> {
  const preopens: Record<string, string> = {};
  for (const dir of [env.CARGO_MANIFEST_DIR, env.OUT_DIR, '/tmp']) if (dir) preopens[dir] = dir;
  // Cargo runs build scripts in their package directory; WASI resolves relative paths through `.`.
  preopens['.'] = cwd;
  return preopens;
}

async function main(wasmPath: string): Promise<number> {
  const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  const wasi = new WASI({ version: 'preview1', args: [wasmPath], env, preopens: preopensFor(process.env, process.cwd()), returnOnExit: true });
  const module = await WebAssembly.compile(readFileSync(wasmPath));
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject() as WebAssembly.Imports);
  return wasi.start(instance);
}

const wasm = process.argv[2];
if (wasm) {
  main(wasm).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`error: cargo-sandbox: the WebAssembly build script failed to run: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(101);
    },
  );
}
