// Which environment variables a build script sees. Cargo's own build-script variables, plus what
// real build scripts read (compilers, pkg-config, the `*_DIR`/`*_STATIC` family of -sys crates,
// locale). Everything else is removed; secrets are removed even when a keep pattern matches.
// Patterns are globs with `*` only, matched the same way by the static launcher (libexec/entry/policy.rs).

import { variablePatterns } from './variables.js';

export interface EnvRules {
  keep: readonly string[];
  deny: readonly string[];
}

/** Set by cargo for build scripts (see cargo's custom_build.rs) or read by rustc/cargo inside. */
export const CARGO_BUILD_SCRIPT_VARS = [
  'CARGO',
  'CARGO_*',
  'OUT_DIR',
  'TARGET',
  'HOST',
  'NUM_JOBS',
  'OPT_LEVEL',
  'DEBUG',
  'PROFILE',
  'RUSTC',
  'RUSTC_*',
  'RUSTDOC',
  'RUSTDOCFLAGS',
  'RUSTFLAGS',
  'DEP_*',
  'LD_LIBRARY_PATH',
  'RUSTUP_HOME',
  'RUSTUP_TOOLCHAIN',
  'DOCS_RS',
  'SOURCE_DATE_EPOCH',
  'RUST_BACKTRACE',
  'RUST_LIB_BACKTRACE',
] as const;

/** What real-world build scripts (cc, pkg-config, cmake, bindgen, the -sys crates) read. */
export const BUILD_TOOL_VARS = [
  'PATH',
  'HOME',
  'LANG',
  'LANGUAGE',
  'LC_*',
  'TERM',
  'TZ',
  'CC',
  'CXX',
  'AR',
  'RANLIB',
  'LD',
  'NM',
  'OBJCOPY',
  'STRIP',
  'CFLAGS',
  'CXXFLAGS',
  'CPPFLAGS',
  'LDFLAGS',
  'ARFLAGS',
  'ASFLAGS',
  'CC_*',
  'CXX_*',
  'AR_*',
  'RANLIB_*',
  'CFLAGS_*',
  'CXXFLAGS_*',
  'ARFLAGS_*',
  'HOST_*',
  'TARGET_*',
  'CRATE_CC_NO_DEFAULTS',
  'CC_ENABLE_DEBUG_OUTPUT',
  'PKG_CONFIG',
  'PKG_CONFIG_*',
  'CMAKE',
  'CMAKE_*',
  'MAKE',
  'MAKEFLAGS',
  'MFLAGS',
  'CROSS_COMPILE',
  'LIBCLANG_PATH',
  'LLVM_CONFIG_PATH',
  'CLANG_PATH',
  'BINDGEN_EXTRA_CLANG_ARGS',
  'BINDGEN_EXTRA_CLANG_ARGS_*',
  'SDKROOT',
  'MACOSX_DEPLOYMENT_TARGET',
  'VCPKG_ROOT',
  '*_DIR',
  '*_STATIC',
  '*_DYNAMIC',
  '*_NO_VENDOR',
  '*_NO_PKG_CONFIG',
  '*_USE_PKG_CONFIG',
  '*_SYS_*',
] as const;

/*
 * Build-configuration variables of well-known tools: they say where a build finds its compiler,
 * headers, libraries, Python or protoc. They are not secrets, and a build that does not see them
 * quietly builds something else (pyo3 linking another libpython, cc missing Nix's include path).
 * Passed by default; the paths they name are shown read-only (build-config.ts).
 */
/** How a variable's value names paths: a `:` list, one path, a program, or compiler flags. */
export type PathForm = 'list' | 'path' | 'program' | 'flags' | 'none';

export interface BuildConfigGroup {
  tool: string;
  vars: readonly (readonly [pattern: string, form: PathForm])[];
}

export const BUILD_CONFIG_VARS: readonly BuildConfigGroup[] = [
  { tool: 'C and C++ compilers (cc, cmake, bindgen)', vars: [['CPATH', 'list'], ['C_INCLUDE_PATH', 'list'], ['CPLUS_INCLUDE_PATH', 'list'], ['OBJC_INCLUDE_PATH', 'list'], ['LIBRARY_PATH', 'list']] },
  { tool: '-sys crates (openssl-sys, libz-sys, ...)', vars: [['*_DIR', 'path'], ['*_INCLUDE_DIR', 'path'], ['*_LIB_DIR', 'path']] },
  {
    tool: 'Nix',
    vars: [['NIX_CFLAGS_COMPILE', 'flags'], ['NIX_CFLAGS_LINK', 'flags'], ['NIX_LDFLAGS', 'flags'], ['NIX_CC', 'path'], ['NIX_BINTOOLS', 'path'], ['NIX_HARDENING_ENABLE', 'none'], ['NIX_ENFORCE_NO_NATIVE', 'none']],
  },
  { tool: 'protobuf (prost-build, tonic-build)', vars: [['PROTOC', 'program'], ['PROTOC_INCLUDE', 'path']] },
  {
    tool: 'Python (pyo3, maturin)',
    vars: [['PYO3_PYTHON', 'program'], ['PYO3_CONFIG_FILE', 'path'], ['PYO3_*', 'none'], ['PYTHON_SYS_EXECUTABLE', 'program'], ['VIRTUAL_ENV', 'path'], ['CONDA_PREFIX', 'path'], ['CONDA_DEFAULT_ENV', 'none'], ['_PYTHON_SYSCONFIGDATA_NAME', 'none']],
  },
  { tool: 'SQLite (libsqlite3-sys)', vars: [['LIBSQLITE3_FLAGS', 'none']] },
  { tool: 'CUDA', vars: [['CUDA_PATH', 'path'], ['CUDA_HOME', 'path'], ['CUDA_ROOT', 'path'], ['CUDA_COMPUTE_CAP', 'none']] },
  { tool: 'libtorch (torch-sys)', vars: [['LIBTORCH', 'path'], ['LIBTORCH_INCLUDE', 'path'], ['LIBTORCH_LIB', 'path'], ['LIBTORCH_*', 'none']] },
  { tool: 'ONNX Runtime (ort)', vars: [['ORT_LIB_LOCATION', 'path'], ['ORT_DYLIB_PATH', 'path'], ['ORT_STRATEGY', 'none'], ['ORT_PREFER_DYNAMIC_LINK', 'none']] },
  { tool: 'Java (jni)', vars: [['JAVA_HOME', 'path']] },
  { tool: 'Android NDK', vars: [['ANDROID_NDK_HOME', 'path'], ['ANDROID_NDK_ROOT', 'path'], ['NDK_HOME', 'path'], ['ANDROID_HOME', 'path'], ['ANDROID_SDK_ROOT', 'path']] },
  { tool: 'Perl (openssl-src)', vars: [['PERL', 'program']] },
];

/** Every pattern above: kept in the sandbox's environment (secret-looking names still win). */
export const BUILD_CONFIG_PATTERNS: readonly string[] = BUILD_CONFIG_VARS.flatMap((g) => g.vars.map(([p]) => p));

/**
 * Never passed, whatever matched above: credentials, agents, proxies, the desktop session, the
 * user's preloaded libraries and our own plumbing (libexec/schema/variables.json).
 */
export const SECRET_VARS: readonly string[] = variablePatterns('never-passed-into-a-sandbox');

export const DEFAULT_ENV_RULES: EnvRules = {
  keep: [...CARGO_BUILD_SCRIPT_VARS, ...BUILD_TOOL_VARS, ...BUILD_CONFIG_PATTERNS],
  deny: SECRET_VARS,
};

export const ENV_PATTERN = /^[A-Za-z_*][A-Za-z0-9_*]*$/;

const compiled = new Map<string, RegExp>();

/** `*` matches any run of characters, newlines included, as libexec/entry/policy.rs matches bytes (test/vectors/glob.json). */
export function globMatch(pattern: string, name: string): boolean {
  let re = compiled.get(pattern);
  if (!re) {
    re = new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$', 's');
    compiled.set(pattern, re);
  }
  return re.test(name);
}

export function isPassed(rules: EnvRules, name: string): boolean {
  if (rules.deny.some((p) => globMatch(p, name))) return false;
  return rules.keep.some((p) => globMatch(p, name));
}

export function filterEnv(rules: EnvRules, env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && isPassed(rules, k)) out[k] = v;
  return out;
}
