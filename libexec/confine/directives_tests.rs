// The directive filter against the shared vectors (test/vectors/directives.json: cargo's own cases
// of build-script output, and the edges of its parsing).

use super::super::{Report, Stop};
use super::check_directive;
use crate::json::{self, Value};

fn field<'a>(fields: &'a [(String, Value)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).and_then(|(_, v)| match v {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    })
}

/// What the filter does with one line (its newline added, as the supervisor reads it).
fn run(line: &[u8]) -> Result<Vec<u8>, String> {
    let mut input = line.to_vec();
    input.push(b'\n');
    match check_directive(input, &mut Report(None)) {
        Ok(out) => Ok(out),
        Err(Stop::Directive(name)) => Err(name),
        // An argument file: the vectors name it `@KEY`.
        Err(Stop::ArgFile(key)) => Err(format!("@{key}")),
        Err(_) => panic!("a directive stops nothing but for its variable or an argument file"),
    }
}

#[test]
fn directives_pass_the_shared_vectors() {
    let text = include_str!("../../test/vectors/directives.json");
    let cases = match json::parse(text.as_bytes()) {
        Some(Value::Object(fields)) => fields.into_iter().find(|(k, _)| k == "cases").map(|(_, v)| v),
        _ => None,
    };
    let Some(Value::Array(cases)) = cases else { panic!("test/vectors/directives.json has no cases") };
    assert!(cases.len() >= 60);
    let (mut passed, mut rewritten, mut refused) = (0, 0, 0);
    for case in &cases {
        let Value::Object(c) = case else { panic!("a case is not an object") };
        let line = field(c, "line").expect("a case without its line");
        let got = run(line.as_bytes());
        match field(c, "then") {
            Some("pass") => {
                assert_eq!(got, Ok(format!("{line}\n").into_bytes()), "{line:?} must pass unchanged");
                passed += 1;
            }
            Some("rewrite") => {
                let to = field(c, "to").expect("a rewrite without `to`");
                assert_eq!(got.map(String::from_utf8), Ok(Ok(format!("{to}\n"))), "{line:?}");
                rewritten += 1;
            }
            Some("refuse") => {
                assert_eq!(got, Err(field(c, "name").expect("a refusal without `name`").to_string()), "{line:?}");
                refused += 1;
            }
            other => panic!("{line:?}: unknown verdict {other:?}"),
        }
    }
    assert!(passed > 0 && rewritten > 0 && refused > 0);
}

#[test]
fn lines_cargo_skips_pass_unchanged() {
    // Not UTF-8: cargo skips the line, so it is handed on as it came (JSON cannot hold these).
    for line in [&b"cargo:rustc-env=LD_PRELOAD=\xff"[..], b"\xffcargo:rustc-link-search=all=/out", b"cargo::rustc-link-search=all=/\xfe"] {
        assert_eq!(run(line), Ok([line, b"\n"].concat()), "{line:?}");
    }
}

#[test]
fn a_refusal_and_a_narrowed_path_are_reported() {
    let path = std::env::temp_dir().join(format!("directives-report-{}", std::process::id()));
    let mut report = Report(Some(std::fs::File::create(&path).unwrap()));
    assert!(check_directive(b"cargo::rustc-link-search=all=/out\n".to_vec(), &mut report).is_ok());
    assert!(check_directive(b"cargo::rustc-flags=-L crate=/lib\n".to_vec(), &mut report).is_ok());
    assert!(check_directive(b"cargo::rustc-env=LD_PRELOAD=/x\tz\n".to_vec(), &mut report).is_err());
    drop(report);
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(text, "link-search\tall=/out\t\nlink-search\tnative=/lib\t\ndirective\tLD_PRELOAD\tcargo::rustc-env=LD_PRELOAD=/x z \n");
}
