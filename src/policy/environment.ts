// Which environment variables a build script sees. Cargo's own build-script variables, plus what
// real build scripts read (compilers, pkg-config, the `*_DIR`/`*_STATIC` family of -sys crates,
// locale). Everything else is removed; secrets are removed even when a keep pattern matches.
// Patterns are globs with `*` only, matched the same way by the static launcher (libexec/entry/policy.rs).

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

/** Never passed, whatever matched above: credentials, agents, proxies, and our own plumbing. */
export const SECRET_VARS = [
  '*TOKEN*',
  '*SECRET*',
  '*PASSWORD*',
  '*PASSWD*',
  '*CREDENTIAL*',
  '*_KEY',
  '*_KEY_*',
  '*APIKEY*',
  '*_AUTH',
  '*AUTH_*',
  '*COOKIE*',
  '*SESSION*',
  'AWS_*',
  'AZURE_*',
  'GOOGLE_*',
  'GCLOUD_*',
  'SSH_*',
  'GPG_*',
  'GNUPG*',
  'CARGO_REGISTRY_*',
  'CARGO_REGISTRIES_*',
  'CARGO_HTTP_*',
  'CARGO_SANDBOX_*',
  '__CARGO_SANDBOX_*',
  // We are the wrapper; a nested cargo inside the sandbox must not find our plumbing.
  'RUSTC_WRAPPER',
  '*_PROXY',
  '*_proxy',
  'LD_PRELOAD',
  'LD_AUDIT',
  'DBUS_*',
  'DISPLAY',
  'WAYLAND_*',
  'XDG_RUNTIME_DIR',
] as const;

export const DEFAULT_ENV_RULES: EnvRules = {
  keep: [...CARGO_BUILD_SCRIPT_VARS, ...BUILD_TOOL_VARS],
  deny: SECRET_VARS,
};

export const ENV_PATTERN = /^[A-Za-z_*][A-Za-z0-9_*]*$/;

const compiled = new Map<string, RegExp>();

export function globMatch(pattern: string, name: string): boolean {
  let re = compiled.get(pattern);
  if (!re) {
    re = new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
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
