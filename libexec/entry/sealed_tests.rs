// The sealed copies of granted macros: only the bytes we compiled are copied, and rustc's
// arguments lead to the copies and never to a file that could stand in for them.

use super::*;

fn scratch(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sealed-{what}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("session")).unwrap();
    fs::create_dir_all(dir.join("deps")).unwrap();
    dir
}

fn digest(bytes: &[u8]) -> String {
    let mut h = crate::sha256::Sha256::new();
    h.update(bytes);
    crate::sha256::hex(&h.finish())
}

fn library(path: PathBuf, bytes: &[u8]) -> MacroLibrary {
    MacroLibrary { name: "m".into(), version: "1.0.0".into(), library: path, digest: digest(bytes) }
}

fn words(w: &[&str]) -> Vec<OsString> {
    w.iter().map(OsString::from).collect()
}

#[test]
fn only_the_bytes_we_compiled_are_copied_and_never_through_a_link() {
    let dir = scratch("copy");
    let lib = dir.join("deps/libm-1.so");
    fs::write(&lib, b"ours").unwrap();
    let mut s = Sealed::new(&dir.join("session"));
    assert!(!s.add(&library(lib.clone(), b"other bytes")), "a digest that does not match");
    assert!(s.is_empty());
    let link = dir.join("deps/libm-2.so");
    std::os::unix::fs::symlink(&lib, &link).unwrap();
    assert!(!s.add(&library(link, b"ours")), "a link to the right bytes");
    assert!(s.add(&library(lib.clone(), b"ours")));
    let copy = s.dir.join("macros/0/libm-1.so");
    assert_eq!(fs::read(&copy).unwrap(), b"ours");
    // The original swapped afterwards: the copy is another file.
    fs::write(&lib, b"swapped").unwrap();
    assert_eq!(fs::read(&copy).unwrap(), b"ours");
    s.remove();
    assert!(!s.dir.exists());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn rustc_is_pointed_at_the_copies_and_views_of_its_search_directories() {
    let dir = scratch("program");
    let deps = dir.join("deps");
    let lib = deps.join("libm-1.so");
    fs::write(&lib, b"ours").unwrap();
    // Beside it: another crate's library, a file that starts as the sealed one does, and
    // something rustc never reads.
    for f in ["libl-2.rlib", "libl-2.rmeta", "libm-1x.so", "libm-1.rmeta", "libm-3.so", "m-1.d"] {
        fs::write(deps.join(f), b"").unwrap();
    }
    let mut s = Sealed::new(&dir.join("session"));
    assert!(s.add(&library(lib.clone(), b"ours")));
    let d = deps.to_str().unwrap();
    let program = words(&["rustc", "--extern", &format!("priv:m={d}/libm-1.so"), "--extern", &format!("l={d}/libl-2.rlib"), "-L", &format!("dependency={d}"), "-Lnative=/n", "-L/all"]);
    let got: Vec<String> = s.program(&program, Path::new("/cwd")).iter().map(|w| w.to_string_lossy().into_owned()).collect();
    let copy = format!("{SEALED_ROOT}/macros/0/libm-1.so");
    #[rustfmt::skip]
    let want = ["rustc", "--extern", &format!("priv:m={copy}"), "--extern", &format!("l={d}/libl-2.rlib"), "-L", &format!("dependency={SEALED_ROOT}/views/0"), "-L", "native=/n",
        "-L", "native=/all", "-L", "framework=/all", "-L", &format!("crate={SEALED_ROOT}/views/1"), "-L", &format!("dependency={SEALED_ROOT}/views/1")];
    assert_eq!(got, want);
    let view = s.dir.join("views/0");
    let mut names: Vec<_> = fs::read_dir(&view).unwrap().flatten().map(|e| e.file_name().into_string().unwrap()).collect();
    names.sort();
    // libm-3.so is another build of the crate (another hash): rustc tells it apart by name.
    assert_eq!(names, ["libl-2.rlib", "libl-2.rmeta", "libm-1.so", "libm-3.so"]);
    assert_eq!(fs::read_link(view.join("libm-1.so")).unwrap(), PathBuf::from(&copy));
    assert_eq!(fs::read_link(view.join("libl-2.rlib")).unwrap(), deps.join("libl-2.rlib"));
    s.remove();
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_relative_search_directory_is_the_compilers_working_directory_s() {
    let dir = scratch("relative");
    fs::write(dir.join("deps/libl-2.rlib"), b"").unwrap();
    let s = Sealed::new(&dir.join("session"));
    s.program(&words(&["rustc", "-L", "dependency=deps"]), &dir);
    assert_eq!(fs::read_link(s.dir.join("views/0/libl-2.rlib")).unwrap(), dir.join("deps/libl-2.rlib"));
    s.remove();
    let _ = fs::remove_dir_all(&dir);
}
