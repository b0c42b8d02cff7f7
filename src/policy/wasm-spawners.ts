// Build scripts that start processes (a compiler, pkg-config, rustc's version probe): compiled for
// WebAssembly (sandbox.target), they fail under WASI, or quietly do less (proc-macro2's probe).
// Pure: a static list, matched by build-dependency or by package name.

/** Build-dependencies whose use starts a process (a compiler, pkg-config, rustc's version probe). */
const SPAWNING_BUILD_DEPS = ['cc', 'cmake', 'pkg-config', 'autocfg', 'version_check', 'rustc_version', 'bindgen', 'vcpkg', 'system-deps', 'cxx-build', 'prost-build', 'tonic-build'];
/** Build scripts that probe rustc themselves, with no build-dependency to show it. */
const SPAWNING_SCRIPTS = ['proc-macro2', 'libc', 'serde', 'serde_derive', 'anyhow', 'thiserror', 'rustversion', 'semver', 'ryu', 'crossbeam-utils', 'parking_lot_core', 'httparse', 'io-lifetimes', 'rustix', 'nix'];

/** Why a WebAssembly build script of this package would fail or quietly fall back, if it would. */
export function spawnsProcesses(pkg: { name: string; version?: string; buildDependencies?: readonly string[] }): string | undefined {
  const dep = pkg.buildDependencies?.find((d) => SPAWNING_BUILD_DEPS.includes(d));
  if (dep) return `its build script uses \`${dep}\`, which starts processes`;
  if (SPAWNING_SCRIPTS.includes(pkg.name)) return 'its build script probes rustc (a process)';
  return undefined;
}
