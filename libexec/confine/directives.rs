// cargo's directives, checked before cargo sees them. Parsed exactly as cargo parses them
// (cargo's `BuildOutput::parse`): a line is UTF-8 (cargo skips others), trimmed at both ends,
// starts with `cargo::` or `cargo:`, and its key is what stands before the first `=`.

use super::{Report, Stop};

/// Variables rustc or the linker (both outside the sandbox) act on by loading or running code,
/// or by writing files where they say (`LLD_REPRODUCE`: rust-lld writes a tar of its inputs).
const FORBIDDEN_RUSTC_ENV: &[&str] = &[
    "PATH", "LD_*", "DYLD_*", "GCONV_PATH", "LOCPATH", "NLSPATH", "GLIBC_TUNABLES", "MALLOC_*",
    "COMPILER_PATH", "GCC_*", "COLLECT_*", "DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES",
    "LLD_*", "LDEMULATION", "GNUTARGET", "MOLD_*",
    "BASH_ENV", "ENV", "IFS", "CDPATH", "SHELLOPTS", "BASHOPTS", "PS4", "HOME", "XDG_*",
    "RUSTC", "RUSTC_*", "RUSTDOC*", "RUSTUP_*", "CARGO", "CARGO_HOME", "CARGO_BUILD_*",
    "CARGO_TARGET_*", "CARGO_SANDBOX_*", "__CARGO*", "TMPDIR",
];

/// The variable a `rustc-env` directive sets, as cargo reads the line; None for any other line.
fn rustc_env_name(line: &[u8]) -> Option<(&str, &str)> {
    let text = std::str::from_utf8(line).ok()?.trim();
    let data = text.strip_prefix("cargo::").or_else(|| text.strip_prefix("cargo:"))?;
    let (key, value) = data.split_once('=')?;
    if key != "rustc-env" {
        return None;
    }
    // cargo splits the value at its first `=` and keeps the name as written; a name with spaces
    // around it is not the variable it resembles, but it is refused all the same.
    Some((value.split('=').next().unwrap_or("").trim(), text))
}

pub(crate) fn check_directive(line: &[u8], report: &mut Report) -> Result<(), Stop> {
    let (name, text) = match rustc_env_name(line) {
        Some(found) => found,
        None => return Ok(()),
    };
    if FORBIDDEN_RUSTC_ENV.iter().any(|p| matches_pattern(name, p)) {
        report.add("directive", name.as_bytes(), text);
        return Err(Stop::Directive(name.to_string()));
    }
    Ok(())
}

fn matches_pattern(name: &str, pattern: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}
