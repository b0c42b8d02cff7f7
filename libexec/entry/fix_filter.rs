// Cargo's fix mode (`cargo sandbox fix`, `clippy --fix`) applies, on the host, every suggestion in
// rustc's JSON diagnostics to the file the suggestion names. A proc macro runs inside rustc and can
// print diagnostics of its own, so under fix (this wrapper started by cargo's fix proxy) a line is
// passed on only if each of its suggestions edits a Rust source of the package being compiled,
// reached from the package directory without a link (review: a forged suggestion for ~/.bashrc was
// applied). A line that looks like JSON and is not one we can check becomes a plain warning, which
// the fix proxy does not read as a diagnostic.

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::json::{self, Value};

pub(crate) struct FixFilter {
    /// The package directory, as cargo names it, and where it really is.
    package: PathBuf,
    real_package: PathBuf,
    cwd: PathBuf,
}

impl FixFilter {
    pub(crate) fn new(package: PathBuf, cwd: PathBuf) -> FixFilter {
        let real_package = std::fs::canonicalize(&package).unwrap_or_else(|_| package.clone());
        FixFilter { package, real_package, cwd }
    }

    /// The line to pass on to cargo's fix proxy.
    pub(crate) fn line(&self, line: &[u8]) -> Vec<u8> {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        // serde_json reads a struct from an object or an array, after any whitespace.
        if !matches!(text.iter().find(|c| !c.is_ascii_whitespace()), Some(b'{' | b'[')) {
            return line.to_vec();
        }
        let refused = match json::parse(text) {
            Some(v @ Value::Object(_)) => self.refused_edit(&v),
            _ => Some("a line that looks like JSON but is not a diagnostic".to_string()),
        };
        match refused {
            None => line.to_vec(),
            Some(what) => {
                format!("warning: cargo-sandbox: dropped {what} from rustc's output: cargo's fix mode would apply it on the host (a proc macro can print diagnostics of its own)\n")
                    .into_bytes()
            }
        }
    }

    /// The first suggestion that edits a file we do not allow, or a shape we cannot check.
    fn refused_edit(&self, v: &Value) -> Option<String> {
        match v {
            Value::Array(items) => items.iter().find_map(|i| match i {
                // rustc's arrays hold objects only; anything else could be a struct in array form.
                Value::Object(_) => self.refused_edit(i),
                _ => Some("a diagnostic with an array of non-objects".to_string()),
            }),
            Value::Object(fields) => {
                let suggests = fields.iter().any(|(k, v)| k == "suggested_replacement" && *v != Value::Null);
                let files: Vec<&Value> = fields.iter().filter(|(k, _)| k == "file_name").map(|(_, v)| v).collect();
                if suggests {
                    if files.is_empty() {
                        return Some("a suggestion without a file".to_string());
                    }
                    for f in files {
                        match f {
                            Value::String(name) if self.allowed(Path::new(name)) => {}
                            Value::String(name) => return Some(format!("a suggestion for `{name}`, not a Rust source of this package")),
                            _ => return Some("a suggestion whose file is not a string".to_string()),
                        }
                    }
                }
                fields.iter().find_map(|(_, v)| self.refused_edit(v))
            }
            _ => None,
        }
    }

    /// A `.rs` file inside the package, every directory below it real (no link), itself a regular
    /// file with one name.
    fn allowed(&self, name: &Path) -> bool {
        let path = self.cwd.join(name);
        if path.extension().map_or(true, |e| e != "rs") || path.components().any(|c| c == Component::ParentDir) {
            return false;
        }
        let rest = match path.strip_prefix(&self.package).or_else(|_| path.strip_prefix(&self.real_package)) {
            Ok(rest) => rest,
            Err(_) => return false,
        };
        let parts: Vec<Component> = rest.components().filter(|c| *c != Component::CurDir).collect();
        let mut at = self.real_package.clone();
        for (i, part) in parts.iter().enumerate() {
            at.push(part);
            let last = i + 1 == parts.len();
            match std::fs::symlink_metadata(&at) {
                Ok(m) if last => return m.file_type().is_file() && m.nlink() == 1,
                Ok(m) if m.file_type().is_dir() => {}
                _ => return false,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(label: &str) -> (PathBuf, FixFilter) {
        let dir = std::env::temp_dir().join(format!("cs-fix-filter-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("src/lib.rs"), "").unwrap();
        std::fs::write(dir.join("build.txt"), "").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("src/link.rs")).unwrap();
        std::os::unix::fs::symlink(".", dir.join("loop")).unwrap();
        let f = FixFilter::new(dir.clone(), dir.clone());
        (dir, f)
    }

    fn diagnostic(file: &str) -> String {
        format!(
            r#"{{"$message_type":"diagnostic","message":"m","spans":[],"children":[{{"message":"x","spans":[{{"file_name":"{file}","byte_start":0,"byte_end":0,"suggested_replacement":"PWNED\n"}}],"children":[]}}]}}"#
        )
    }

    #[test]
    fn passes_what_edits_a_source_of_the_package_and_plain_lines() {
        let (dir, f) = package("passes");
        for line in [
            diagnostic("src/lib.rs"),
            diagnostic(&dir.join("src/lib.rs").display().to_string()),
            "warning: plain text".into(),
            r#"{"artifact":"/t/libx.rmeta","emit":"metadata"}"#.into(),
        ] {
            let line = format!("{line}\n");
            assert_eq!(f.line(line.as_bytes()), line.as_bytes());
        }
        // A note without a suggestion may point anywhere.
        let note = r#"{"spans":[{"file_name":"/home/u/.bashrc","suggested_replacement":null}]}"#;
        assert_eq!(f.line(note.as_bytes()), note.as_bytes());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn drops_suggestions_elsewhere_and_what_it_cannot_check() {
        let (dir, f) = package("drops");
        let outside = diagnostic("/root/.bashrc");
        let escaped = outside.replace("file_name", r"file_\u006eame");
        let array_form = r#"{"children":[["/root/.bashrc",0,0,"PWNED"]]}"#.to_string();
        for line in [
            outside,
            escaped,
            diagnostic("src/link.rs"),
            diagnostic("loop/src/lib.rs"),
            diagnostic("src/../src/lib.rs"),
            diagnostic("build.txt"),
            diagnostic("src/missing.rs"),
            array_form,
            "  [1,2]".into(),
            "{not json".into(),
        ] {
            let out = f.line(line.as_bytes());
            assert!(out.starts_with(b"warning: cargo-sandbox: dropped"), "{line}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
