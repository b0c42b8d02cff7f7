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
    // The next compilation links the session's copy of those bytes: the original is not read.
    let mut s = Sealed::new(&dir.join("session"));
    assert!(s.add(&library(lib.clone(), b"ours")));
    assert_eq!(fs::read(&copy).unwrap(), b"ours");
    assert!(dir.join(format!("session/sealed/sha256-{}.so", digest(b"ours"))).is_file());
    s.remove();
    let _ = fs::remove_dir_all(&dir);
}

/// The links the supervisor is asked to make (`--symlink TARGET DEST`), by DEST, from the views' file.
fn links(s: &Sealed) -> Vec<(String, String)> {
    let text = fs::read(s.dir.join("views")).unwrap();
    let words: Vec<String> = text.split(|&c| c == 0).map(|w| String::from_utf8(w.to_vec()).unwrap()).collect();
    let mut links: Vec<(String, String)> = words.windows(3).filter(|w| w[0] == "--symlink").map(|w| (w[2].clone(), w[1].clone())).collect();
    links.sort();
    links
}

#[test]
fn rustc_is_pointed_at_the_copies_and_views_of_its_search_directories() {
    let dir = scratch("program");
    let deps = dir.join("deps");
    let lib = deps.join("libm-1.so");
    fs::write(&lib, b"ours").unwrap();
    // Beside it: another crate's library, files that start as the sealed one does, another
    // build of the macro (another hash: rustc tells it apart by name), and what rustc never reads.
    for f in ["libl-2.rlib", "libl-2.rmeta", "libm-1x.so", "libm-1.rmeta", "libm-3.so", "m-1.d"] {
        fs::write(deps.join(f), b"").unwrap();
    }
    let mut s = Sealed::new(&dir.join("session"));
    assert!(s.add(&library(lib.clone(), b"ours")));
    let d = deps.to_str().unwrap();
    let program = words(&[
        "rustc",
        "--extern",
        &format!("priv:m={d}/libm-1.so"),
        "--extern",
        &format!("l={d}/libl-2.rlib"),
        "-L",
        &format!("dependency={d}"),
        "-Lnative=/n",
        &format!("-L{d}"),
    ]);
    let prepared = s.prepare(&program, Path::new("/cwd"));
    let got: Vec<String> = prepared.program.iter().map(|w| w.to_string_lossy().into_owned()).collect();
    let (copy, views) = (format!("{SEALED_ROOT}/macros/0/libm-1.so"), format!("{SEALED_ROOT}/views"));
    #[rustfmt::skip]
    let want = ["rustc", "--extern", &format!("priv:m={copy}"), "--extern", &format!("l={d}/libl-2.rlib"), "-L", &format!("dependency={views}/0"), "-L", "native=/n",
        "-L", &format!("native={d}"), "-L", &format!("framework={d}"), "-L", &format!("crate={views}/1"), "-L", &format!("dependency={views}/1")];
    assert_eq!(got, want);
    let bwrap: Vec<String> = prepared.bwrap.iter().map(|w| w.to_string_lossy().into_owned()).collect();
    assert_eq!(bwrap, ["--ro-bind", &s.dir.join("macros").to_string_lossy(), &format!("{SEALED_ROOT}/macros"), "--tmpfs", &views]);
    assert_eq!(prepared.confine, [OsString::from("--links-fd"), OsString::from("5")]);
    let mut want: Vec<(String, String)> = vec![];
    for view in ["0", "1"] {
        want.push((format!("{views}/{view}/libl-2.rlib"), format!("{d}/libl-2.rlib")));
        want.push((format!("{views}/{view}/libl-2.rmeta"), format!("{d}/libl-2.rmeta")));
        want.push((format!("{views}/{view}/libm-1.so"), copy.clone()));
        want.push((format!("{views}/{view}/libm-3.so"), format!("{d}/libm-3.so")));
    }
    assert_eq!(links(&s), want);
    s.remove();
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_relative_search_directory_is_the_compilers_working_directory_s() {
    let dir = scratch("relative");
    fs::write(dir.join("deps/libl-2.rlib"), b"").unwrap();
    let s = Sealed::new(&dir.join("session"));
    s.prepare(&words(&["rustc", "-L", "dependency=deps"]), &dir);
    assert_eq!(links(&s), [(format!("{SEALED_ROOT}/views/0/libl-2.rlib"), dir.join("deps/libl-2.rlib").to_string_lossy().into_owned())]);
    s.remove();
    let _ = fs::remove_dir_all(&dir);
}
