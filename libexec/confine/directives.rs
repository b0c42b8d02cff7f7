// cargo's directives, checked before cargo sees them. Parsed exactly as cargo parses them
// (cargo's `BuildOutput::parse`): a line is UTF-8 (cargo skips others), trimmed at both ends,
// starts with `cargo::` or `cargo:`, and its key is what stands before the first `=`. Variables
// that make host programs run code are refused; library search paths are narrowed to native ones.
//
// Refused in `rustc-env`: the `refused-in-rustc-env` use of libexec/schema/variables.json. rustc
// and the linker act on those by loading or running code, or by writing files where they say
// (`LLD_REPRODUCE`: rust-lld writes a tar of its inputs). They run on the host with
// `sandbox.proc-macros = false`, otherwise in the compilation's sandbox, which writes the artifacts
// users run and sees what the build script does not; and cargo's own per-package variables, which cargo would let a directive override, are what
// the wrapper trusts to choose a package's policy (`CARGO_MANIFEST_DIR=/` would show a compilation
// the whole system).

use super::{Report, Stop};
use crate::variables;

/// A directive as cargo reads the line: its syntax (`cargo:` or `cargo::`), key and value; None
/// for any other line.
fn parse(line: &[u8]) -> Option<(&str, &str, &str)> {
    let text = std::str::from_utf8(line).ok()?.trim();
    let (syntax, data) = match text.strip_prefix("cargo::") {
        Some(data) => ("cargo::", data),
        None => ("cargo:", text.strip_prefix("cargo:")?),
    };
    let (key, value) = data.split_once('=')?;
    Some((syntax, key, value.trim_end()))
}

/// A library search path that rustc may also search for crates (cargo's default kind `all`, or
/// `crate`, `dependency`) is narrowed to native libraries: otherwise rustc, outside this sandbox,
/// would find a proc macro the script compiled into OUT_DIR and load it (`extern crate evil;`).
fn native_only(path: &str) -> (String, bool) {
    if path.starts_with("native=") || path.starts_with("framework=") {
        return (path.to_string(), false);
    }
    for kind in ["all=", "crate=", "dependency="] {
        if let Some(rest) = path.strip_prefix(kind) {
            return (format!("native={rest}"), true);
        }
    }
    (format!("native={path}"), false)
}

/// The line to hand to cargo (rewritten where a search path must be narrowed), or the reason to
/// stop the script.
pub(crate) fn check_directive(line: Vec<u8>, report: &mut Report) -> Result<Vec<u8>, Stop> {
    let (syntax, key, value) = match parse(&line) {
        Some(found) => found,
        None => return Ok(line),
    };
    // rustc reads any argument that starts with `@` as a file of more arguments (`@path`), before
    // it parses them: cargo passes these directives' values to rustc as words of their own
    // (`--cfg VALUE`, `--check-cfg VALUE`, `-l VALUE`, rustc-flags' words), so such a value would
    // hand rustc arguments no one checked (`-C linker=` a program of the script's), on the host
    // with `proc-macros = false`.
    let words: Vec<&str> = match key {
        "rustc-cfg" | "rustc-check-cfg" | "rustc-link-lib" => vec![value.trim()],
        "rustc-flags" => value.split_whitespace().flat_map(|w| [w, w.get(2..).unwrap_or("")]).collect(),
        _ => vec![],
    };
    if words.iter().any(|w| w.starts_with('@')) {
        report.add("argfile", key.as_bytes(), &String::from_utf8_lossy(&line));
        return Err(Stop::ArgFile(key.to_string()));
    }
    match key {
        "rustc-env" => {
            // cargo splits the value at its first `=` and keeps the name as written; a name with
            // spaces around it is not the variable it resembles, but it is refused all the same.
            let name = value.split('=').next().unwrap_or("").trim();
            if variables::listed("refused-in-rustc-env", name.as_bytes()) {
                report.add("directive", name.as_bytes(), &String::from_utf8_lossy(&line));
                return Err(Stop::Directive(name.to_string()));
            }
            Ok(line)
        }
        "rustc-link-search" => {
            let (path, explicit) = native_only(value);
            if explicit {
                report.add("link-search", value.as_bytes(), "");
            }
            Ok(format!("{syntax}rustc-link-search={path}\n").into_bytes())
        }
        "rustc-flags" => {
            // Read as cargo reads it (`parse_rustc_flags`): `-lNAME`, `-l NAME`, `-LDIR` or
            // `-L DIR`, each flag with its value, so that what is narrowed is what cargo would
            // pass as a search path; any other word, or a flag without its value, is kept for
            // cargo to refuse.
            let mut words = value.split_whitespace();
            let mut flags = Vec::new();
            while let Some(w) = words.next() {
                let (flag, mut path) = match w.get(..2) {
                    Some(flag @ ("-l" | "-L")) => (flag, &w[2..]),
                    _ => {
                        flags.push(w.to_string());
                        continue;
                    }
                };
                if flag == "-l" {
                    // A library name, attached or the next word: kept as written.
                    flags.push(w.to_string());
                    if path.is_empty() {
                        flags.extend(words.next().map(str::to_string));
                    }
                    continue;
                }
                if path.is_empty() {
                    match words.next() {
                        Some(next) => path = next,
                        None => {
                            flags.push(w.to_string());
                            continue;
                        }
                    }
                }
                let (path, explicit) = native_only(path);
                if explicit {
                    report.add("link-search", path.as_bytes(), "");
                }
                flags.push(format!("-L {path}"));
            }
            Ok(format!("{syntax}rustc-flags={}\n", flags.join(" ")).into_bytes())
        }
        _ => Ok(line),
    }
}

#[cfg(test)]
#[path = "directives_tests.rs"]
mod tests;
