// A path compiled in with env! (the package root, Node), as the front end and the proc-macro
// server's launcher have it. Compiled on first use, it is the path itself. In the package's
// prebuilt copies it is a placeholder of 4096 bytes, which the copy into the cache overwrites with
// the installation's path followed by NULs (src/backends/prebuilt-helpers.ts): it ends at the
// first NUL.

/// `value` up to its first NUL, read at run time: the bytes are the installer's, not the compiler's.
pub fn fixed(value: &'static str) -> &'static str {
    // black_box: the optimizer must not search the placeholder it saw at compile time.
    let value: &'static str = std::hint::black_box(value);
    match value.find('\0') {
        Some(end) => &value[..end],
        None => value,
    }
}

#[cfg(test)]
mod tests {
    use super::fixed;

    #[test]
    fn ends_at_the_first_nul() {
        assert_eq!(fixed("/usr/lib/node_modules/cargo-sandbox\0\0\0"), "/usr/lib/node_modules/cargo-sandbox");
        assert_eq!(fixed("/opt/node/bin/node"), "/opt/node/bin/node");
        assert_eq!(fixed("\0\0"), "");
    }
}
