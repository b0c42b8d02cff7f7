// The `key=value` files that cross between cargo-sandbox (TypeScript) and its helpers, checked
// against their one definition: libexec/schema/records.json, compiled in here and read by
// src/backends/records.ts too. Each file starts with `version=N`; an unknown key, a missing
// required key, a single key given twice, a value of the wrong kind or another version is an
// error, never a default: a renamed key must not silently drop a limit.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::sync::OnceLock;

use crate::json::{self, Value};

const SCHEMA: &str = include_str!("../schema/records.json");

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Flag,
    Count,
    Number,
    AbsolutePath,
    GrantedPath,
    Pattern,
    Text,
    Word,
}

struct KeySpec {
    name: String,
    kind: Kind,
    required: bool,
    repeated: bool,
}

struct Format {
    name: String,
    version: u64,
    keys: Vec<KeySpec>,
}

/// The formats of records.json; a schema that does not read is a build of ours that must not run.
fn formats() -> &'static [Format] {
    static FORMATS: OnceLock<Vec<Format>> = OnceLock::new();
    FORMATS.get_or_init(|| read_schema(SCHEMA).unwrap_or_else(|e| panic!("libexec/schema/records.json: {e}")))
}

fn read_schema(text: &str) -> Result<Vec<Format>, String> {
    let root = json::parse(text.as_bytes()).ok_or("not JSON")?;
    let Some(Value::Object(formats)) = root.get("formats") else { return Err("no `formats` object".into()) };
    formats
        .iter()
        .map(|(name, f)| {
            let version = f.get("version").and_then(Value::integer).ok_or(format!("{name}: no version"))?;
            let Some(Value::Object(keys)) = f.get("keys") else { return Err(format!("{name}: no keys")) };
            let keys = keys.iter().map(|(key, spec)| key_spec(key, spec).map_err(|e| format!("{name}.{key}: {e}"))).collect::<Result<_, _>>()?;
            Ok(Format { name: name.clone(), version, keys })
        })
        .collect()
}

fn key_spec(name: &str, spec: &Value) -> Result<KeySpec, String> {
    let kind = match spec.get("kind") {
        Some(Value::String(k)) => match k.as_str() {
            "flag" => Kind::Flag,
            "count" => Kind::Count,
            "number" => Kind::Number,
            "absolute-path" => Kind::AbsolutePath,
            "granted-path" => Kind::GrantedPath,
            "pattern" => Kind::Pattern,
            "text" => Kind::Text,
            "word" => Kind::Word,
            other => return Err(format!("unknown kind `{other}`")),
        },
        _ => return Err("no kind".into()),
    };
    let flag = |k: &str| match spec.get(k) {
        None | Some(Value::Bool(false)) => Ok(false),
        Some(Value::Bool(true)) => Ok(true),
        _ => Err(format!("`{k}` is not a boolean")),
    };
    if name == "version" {
        return Err("`version` is every format's first entry, not a key".into());
    }
    Ok(KeySpec { name: name.to_string(), kind, required: flag("required")?, repeated: flag("repeated")? })
}

fn format(name: &str) -> &'static Format {
    formats().iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no record format `{name}` in libexec/schema/records.json"))
}

/// Whether `value` is of `kind` (records.json's `kinds` says the same in words).
fn fits(kind: Kind, value: &[u8]) -> bool {
    match kind {
        Kind::Flag => value == b"0" || value == b"1",
        Kind::Count => number(value).is_some_and(|n| n > 0),
        Kind::Number => number(value).is_some(),
        Kind::AbsolutePath => value.starts_with(b"/"),
        Kind::GrantedPath => granted_path(value),
        Kind::Pattern => {
            let first = |c: &u8| c.is_ascii_alphabetic() || *c == b'_' || *c == b'*';
            value.first().is_some_and(first) && value.iter().all(|c| first(c) || c.is_ascii_digit())
        }
        Kind::Text => !value.is_empty(),
        Kind::Word => true,
    }
}

fn number(value: &[u8]) -> Option<u64> {
    let canonical = !value.is_empty() && value.iter().all(u8::is_ascii_digit) && (value == b"0" || value[0] != b'0');
    if canonical {
        std::str::from_utf8(value).ok()?.parse().ok()
    } else {
        None
    }
}

/// An absolute path whose runtime parts (between 0x01 bytes) are OUT_DIR or CARGO_MANIFEST_DIR.
fn granted_path(value: &[u8]) -> bool {
    let parts: Vec<&[u8]> = value.split(|&c| c == 1).collect();
    let runtime_ok = parts.len() % 2 == 1 && parts.iter().skip(1).step_by(2).all(|p| *p == b"OUT_DIR" || *p == b"CARGO_MANIFEST_DIR");
    runtime_ok && (value.starts_with(b"/") || (value.first() == Some(&1) && parts.len() > 1))
}

/// Every format's version (`session 2, package 1, ...`): a launcher copied into a target dir reads
/// the session's files, so it must be rebuilt when one of them changes.
pub(crate) fn versions() -> String {
    formats().iter().map(|f| format!("{} {}", f.name, f.version)).collect::<Vec<_>>().join(", ")
}

/// One file's entries, checked against its format.
pub(crate) struct Record {
    format: &'static Format,
    entries: Vec<(usize, OsString)>,
}

/// Reads `data` as a record of `format_name`; the error says what is wrong, without the file.
pub(crate) fn parse(format_name: &str, data: &[u8]) -> Result<Record, String> {
    let format = format(format_name);
    let body = data.strip_suffix(b"\0").ok_or_else(|| if data.is_empty() { "it is empty".to_string() } else { "its last entry does not end in NUL".to_string() })?;
    let mut entries = body.split(|&c| c == 0);
    let version = format!("version={}", format.version);
    match entries.next() {
        Some(first) if first == version.as_bytes() => {}
        Some(first) => return Err(format!("format `{}`, expected `{version}`", String::from_utf8_lossy(first))),
        None => return Err("it is empty".into()),
    }
    let mut record = Record { format, entries: Vec::new() };
    for entry in entries {
        let eq = entry.iter().position(|&c| c == b'=').ok_or_else(|| format!("`{}` is not a `key=value` entry", String::from_utf8_lossy(entry)))?;
        let (key, value) = (&entry[..eq], &entry[eq + 1..]);
        let key_text = String::from_utf8_lossy(key);
        let index = format.keys.iter().position(|k| k.name.as_bytes() == key).ok_or_else(|| format!("`{key_text}` is not a key of this file"))?;
        let spec = &format.keys[index];
        if !fits(spec.kind, value) {
            return Err(format!("`{key_text}` is not {}", kind_name(spec.kind)));
        }
        if !spec.repeated && record.entries.iter().any(|(i, _)| *i == index) {
            return Err(format!("`{key_text}` is given twice"));
        }
        record.entries.push((index, OsStr::from_bytes(value).to_os_string()));
    }
    if let Some(missing) = format.keys.iter().enumerate().find(|(i, k)| k.required && !record.entries.iter().any(|(j, _)| j == i)) {
        return Err(format!("`{}` is missing", missing.1.name));
    }
    Ok(record)
}

/// `format_name`'s file for these entries; the same checks as `parse`.
pub(crate) fn render(format_name: &str, entries: &[(&str, &OsStr)]) -> Result<Vec<u8>, String> {
    let mut data = format!("version={}\0", format(format_name).version).into_bytes();
    for (key, value) in entries {
        if value.as_bytes().contains(&0) {
            return Err(format!("`{key}` holds a NUL byte"));
        }
        data.extend_from_slice(&[key.as_bytes(), b"=", value.as_bytes(), b"\0"].concat());
    }
    parse(format_name, &data)?;
    Ok(data)
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Flag => "0 or 1",
        Kind::Count => "a positive number",
        Kind::Number => "a number",
        Kind::AbsolutePath => "an absolute path",
        Kind::GrantedPath => "a granted path",
        Kind::Pattern => "a variable pattern",
        Kind::Text => "a non-empty value",
        Kind::Word => "a value",
    }
}

impl Record {
    fn index(&self, key: &str, repeated: bool) -> usize {
        let i = self.format.keys.iter().position(|k| k.name == key).unwrap_or_else(|| panic!("`{key}` is not a key of the `{}` format", self.format.name));
        assert_eq!(self.format.keys[i].repeated, repeated, "`{key}` of the `{}` format is read as the wrong arity", self.format.name);
        i
    }

    /// The value of a single key, if given.
    pub(crate) fn one(&self, key: &str) -> Option<&OsStr> {
        let i = self.index(key, false);
        self.entries.iter().find(|(j, _)| *j == i).map(|(_, v)| v.as_os_str())
    }

    /// Every value of a repeated key, in order.
    pub(crate) fn all(&self, key: &str) -> Vec<OsString> {
        let i = self.index(key, true);
        self.entries.iter().filter(|(j, _)| *j == i).map(|(_, v)| v.clone()).collect()
    }

    pub(crate) fn flag(&self, key: &str) -> Option<bool> {
        self.one(key).map(|v| v == "1")
    }

    /// A `count` or `number` key's value.
    pub(crate) fn number(&self, key: &str) -> Option<u64> {
        self.one(key).and_then(|v| number(v.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases the TypeScript side passes too (test/unit/records.test.ts).
    #[test]
    fn records_match_the_shared_vectors() {
        let text = include_str!("../../test/vectors/records.json");
        let root = json::parse(text.as_bytes()).expect("test/vectors/records.json is JSON");
        let Some(Value::Array(cases)) = root.get("cases") else { panic!("no cases") };
        assert!(cases.len() >= 30);
        for case in cases {
            let (Some(Value::String(format)), Some(Value::Array(entries)), Some(Value::Bool(ok))) = (case.get("format"), case.get("entries"), case.get("ok")) else {
                panic!("a case is not {{format, entries, ok}}")
            };
            let data: Vec<u8> = entries
                .iter()
                .flat_map(|e| match e {
                    Value::String(s) => [s.as_bytes(), b"\0"].concat(),
                    _ => panic!("an entry is not a string"),
                })
                .collect();
            let result = parse(format, &data);
            assert_eq!(result.is_ok(), *ok, "{format} {entries:?}: {:?}", result.err());
        }
    }

    #[test]
    fn every_format_reads_and_versions_are_checked() {
        for f in formats() {
            assert!(f.version >= 1 && !f.keys.is_empty(), "{}", f.name);
            let other = format!("version={}\0", f.version + 1);
            assert!(parse(&f.name, other.as_bytes()).err().is_some_and(|e| e.contains("expected")));
        }
        assert!(read_schema(r#"{"formats":{"x":{"version":1,"keys":{"version":{"kind":"text"}}}}}"#).is_err());
        assert!(read_schema(r#"{"formats":{"x":{"version":1,"keys":{"k":{"kind":"size"}}}}}"#).is_err());
    }

    #[test]
    fn render_checks_what_it_writes() {
        let data = render("env", &[("keep", OsStr::new("PATH")), ("deny", OsStr::new("*TOKEN*"))]).unwrap();
        assert_eq!(data, b"version=1\0keep=PATH\0deny=*TOKEN*\0");
        assert!(render("env", &[("keep", OsStr::new("A B"))]).is_err());
        assert!(render("env", &[("keep", OsStr::new("A\0B"))]).is_err());
        let r = parse("env", &data).unwrap();
        assert_eq!(r.all("keep"), vec![OsString::from("PATH")]);
    }

    #[test]
    fn counts_are_canonical_and_fit() {
        assert_eq!(number(b"0"), Some(0));
        assert_eq!(number(b"18446744073709551615"), Some(u64::MAX));
        assert!(!fits(Kind::Count, b"0") && fits(Kind::Count, b"1") && fits(Kind::Number, b"0"));
        for bad in [&b""[..], b"18446744073709551616", b"01", b"+1", b"-1", b" 1", b"1k", b"0x10"] {
            assert_eq!(number(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
