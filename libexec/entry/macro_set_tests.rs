// The Cargo.lock reader against the shared vectors (test/vectors/lockfiles: lock files of every
// format cargo reads, and what an independent TOML reader found in them), and the macros a
// compilation may load from them.

use super::*;
use crate::json::{self, Value};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../test/vectors/lockfiles/");

fn get<'a>(fields: &'a [(String, Value)], name: &str) -> &'a Value {
    &fields.iter().find(|(k, _)| k == name).unwrap_or_else(|| panic!("no `{name}`")).1
}

fn string(v: &Value) -> &str {
    match v {
        Value::String(s) => s,
        _ => panic!("not a string: {v:?}"),
    }
}

fn array(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) => a,
        _ => panic!("not an array: {v:?}"),
    }
}

fn object(v: &Value) -> &[(String, Value)] {
    match v {
        Value::Object(o) => o,
        _ => panic!("not an object: {v:?}"),
    }
}

fn lock(file: &str) -> String {
    std::fs::read_to_string(format!("{DIR}{file}")).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn lock_files_of_every_format_read_as_expected() {
    let text = std::fs::read(format!("{DIR}expectations.json")).unwrap();
    let top = json::parse(&text).expect("expectations.json is not JSON");
    let files = object(get(object(&top), "files"));
    assert!(files.len() >= 7);
    for (file, expected) in files {
        let expected = object(expected);
        let text = lock(file);
        let packages = lock_packages(&text);
        let index = by_name(&packages);
        let resolved = |p: &Locked| -> Vec<(String, String, String)> {
            p.deps
                .iter()
                .filter_map(|d| resolve(&packages, &index, d))
                .map(|i| (packages[i].name.to_string(), packages[i].version.to_string(), packages[i].source.to_string()))
                .collect()
        };
        if get(expected, "readable") == &Value::Bool(false) {
            // What cargo would refuse: whatever this reader finds there, no edge reaches a package
            // it could not read whole.
            assert_eq!(packages.iter().map(|p| resolved(p).len()).sum::<usize>(), 0, "{file}");
            continue;
        }
        let want = array(get(expected, "packages"));
        assert_eq!(packages.len(), want.len(), "{file}: packages");
        for (p, w) in packages.iter().zip(want) {
            let w = object(w);
            let what = format!("{file}: {} {}", p.name, p.version);
            assert_eq!((p.name, p.version, p.source), (string(get(w, "name")), string(get(w, "version")), string(get(w, "source"))), "{what}");
            let deps: Vec<(String, String, String)> = array(get(w, "dependencies"))
                .iter()
                .map(|d| match array(d) {
                    [n, v, s] => (string(n).to_string(), string(v).to_string(), string(s).to_string()),
                    _ => panic!("a dependency is not [name, version, source]"),
                })
                .collect();
            assert_eq!(resolved(p), deps, "{what}: dependencies");
            assert_eq!(p.deps.len(), deps.len(), "{what}: every dependency resolves");
        }
    }
}

fn macro_library(name: &str, version: &str) -> ((String, String), MacroLibrary) {
    let m = MacroLibrary { name: name.into(), version: version.into(), library: PathBuf::from(format!("/t/lib{name}.so")), digest: String::new() };
    ((name.into(), version.into()), m)
}

#[test]
fn the_macros_a_package_may_load_are_found_in_every_format() {
    let macros: HashMap<_, _> = [macro_library("serde_derive", "1.0.152")].into_iter().collect();
    let want: HashSet<(String, String)> = [("serde_derive".to_string(), "1.0.152".to_string())].into();
    for file in ["v1.lock", "v2.lock", "v3.lock", "v4.lock"] {
        let text = lock(file);
        let packages = lock_packages(&text);
        // app → serde → serde_derive; helper → quote → proc-macro2 (no macro of ours).
        assert_eq!(macros_of(&packages, "app", "0.1.0", &macros), want, "{file}");
        assert_eq!(macros_of(&packages, "helper", "0.2.0", &macros), HashSet::new(), "{file}");
        assert_eq!(macros_of(&packages, "app", "0.1.1", &macros), HashSet::new(), "{file}: no such package");
    }
}

#[test]
fn a_macro_is_not_looked_inside() {
    // proc-macro2 is behind serde_derive only (and quote, which helper has): a macro's own
    // dependencies are compiled into it.
    let macros: HashMap<_, _> = [macro_library("serde_derive", "1.0.152"), macro_library("proc-macro2", "1.0.47")].into_iter().collect();
    let text = lock("v3.lock");
    let packages = lock_packages(&text);
    let serde: HashSet<(String, String)> = [("serde_derive".to_string(), "1.0.152".to_string())].into();
    assert_eq!(macros_of(&packages, "serde", "1.0.152", &macros), serde);
    assert_eq!(macros_of(&packages, "helper", "0.2.0", &macros).len(), 1, "helper reaches proc-macro2 through quote");
}

#[test]
fn packages_of_one_name_and_version_lend_no_macros_to_each_other() {
    // Three `foo 0.1.0` (path, registry, git): only the git one depends on serde_derive, and a
    // compilation of `foo 0.1.0` could be any of them.
    let macros: HashMap<_, _> = [macro_library("serde_derive", "1.0.152")].into_iter().collect();
    let text = lock("v3-same-name-version.lock");
    let packages = lock_packages(&text);
    assert_eq!(macros_of(&packages, "foo", "0.1.0", &macros), HashSet::new());
    // The git one, alone in its edge, does reach it.
    let index = by_name(&packages);
    let git = resolve(&packages, &index, "foo 0.1.0 (git+https://example.com/dep1)").unwrap();
    assert_eq!(macros_reached(&packages, git, &macros).len(), 1);
}

#[test]
fn a_dependency_naming_several_packages_or_none_is_left_out() {
    let text = lock("v3-same-name-version.lock");
    let packages = lock_packages(&text);
    let index = by_name(&packages);
    for dep in ["foo", "foo 0.1.0", "foo 0.2.0", "bar", "foo 0.1.0 (git+https://example.com/other)", "foo 0.1.0 registry", "foo 0.1.0 (registry"] {
        assert_eq!(resolve(&packages, &index, dep), None, "{dep:?}");
    }
    assert!(resolve(&packages, &index, "foo 0.1.0 (registry+https://github.com/rust-lang/crates.io-index)").is_some());
}
