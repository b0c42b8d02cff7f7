// The environment variables that matter to the sandbox, from their one definition:
// libexec/schema/variables.json (compiled in here, read by src/policy/variables.ts too), and the
// one glob rule both sides match them with (test/vectors/glob.json).

use std::sync::OnceLock;

use crate::json::{self, Value};

const SCHEMA: &str = include_str!("../schema/variables.json");

/// Each use of variables.json (`uses`) with its groups' patterns, in order.
fn uses() -> &'static [(String, Vec<String>)] {
    static USES: OnceLock<Vec<(String, Vec<String>)>> = OnceLock::new();
    USES.get_or_init(|| read_schema(SCHEMA).unwrap_or_else(|e| panic!("libexec/schema/variables.json: {e}")))
}

fn read_schema(text: &str) -> Result<Vec<(String, Vec<String>)>, String> {
    let root = json::parse(text.as_bytes()).ok_or("not JSON")?;
    let Some(Value::Object(uses)) = root.get("uses") else { return Err("no `uses` object".into()) };
    let groups = root.get("groups").ok_or("no `groups` object")?;
    let strings = |v: Option<&Value>, what: &str| v.and_then(Value::strings).ok_or_else(|| format!("{what}: not a list of strings"));
    uses.iter()
        .map(|(name, u)| {
            let mut patterns = Vec::new();
            for group in strings(u.get("groups"), name)? {
                patterns.extend(strings(groups.get(&group).and_then(|g| g.get("patterns")), &group)?);
            }
            Ok((name.clone(), patterns))
        })
        .collect()
}

/// The patterns of one use of variables.json.
pub(crate) fn patterns(use_name: &str) -> &'static [String] {
    uses().iter().find(|(n, _)| n == use_name).map(|(_, p)| &p[..]).unwrap_or_else(|| panic!("no use `{use_name}` in libexec/schema/variables.json"))
}

/// Whether a pattern of `use_name` matches `name`.
pub(crate) fn listed(use_name: &str, name: &[u8]) -> bool {
    patterns(use_name).iter().any(|p| glob(p.as_bytes(), name))
}

/// Shell-style glob with `*` only, over bytes (a `*` spans anything, newlines included).
pub(crate) fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.iter().position(|&c| c == b'*') {
        None => pattern == name,
        Some(star) => {
            let (head, rest) = (&pattern[..star], &pattern[star + 1..]);
            name.starts_with(head) && (0..=name.len() - head.len()).any(|skip| glob(rest, &name[head.len() + skip..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors the TypeScript side passes too (test/unit/policy.test.ts).
    #[test]
    fn glob_matches_the_shared_vectors() {
        let text = include_str!("../../test/vectors/glob.json");
        let root = json::parse(text.as_bytes()).expect("test/vectors/glob.json is JSON");
        let Some(Value::Array(cases)) = root.get("cases") else { panic!("test/vectors/glob.json has no cases") };
        assert!(cases.len() >= 20);
        for case in cases {
            let Value::Array(case) = case else { panic!("a case is not an array") };
            match &case[..] {
                [Value::String(pattern), Value::String(name), Value::Bool(expected)] => {
                    assert_eq!(glob(pattern.as_bytes(), name.as_bytes()), *expected, "{pattern:?} ~ {name:?}")
                }
                _ => panic!("a case is not [pattern, name, matches]"),
            }
        }
    }

    #[test]
    fn every_use_reads_and_names_known_groups() {
        for use_name in ["scrubbed-by-entry-points", "refused-in-rustc-env", "never-passed-into-a-sandbox"] {
            assert!(!patterns(use_name).is_empty(), "{use_name}");
        }
        assert!(read_schema(r#"{"groups":{},"uses":{"u":{"groups":["missing"]}}}"#).is_err());
        // The loader's variables never reach a host program, and a build script cannot set one for rustc.
        for name in [&b"LD_PRELOAD"[..], b"LD_LIBRARY_PATH", b"GLIBC_TUNABLES", b"MALLOC_CHECK_", b"GCONV_PATH"] {
            assert!(listed("scrubbed-by-entry-points", name) && listed("refused-in-rustc-env", name));
        }
        assert!(listed("never-passed-into-a-sandbox", b"CARGO_REGISTRY_TOKEN"));
        assert!(!listed("never-passed-into-a-sandbox", b"LD_LIBRARY_PATH"));
    }
}
