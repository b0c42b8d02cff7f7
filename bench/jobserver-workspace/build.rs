// `npm run bench`'s jobserver case: a C-heavy build script (as jemalloc-sys or openssl-src are):
// 16 generated C files compiled by `make` (its -j from MAKEFLAGS) under cargo's jobserver, as the cc crate runs make.
use std::fmt::Write as _;
use std::process::Command;

fn main() {
    let out = std::env::var("OUT_DIR").unwrap();
    let mut makefile = String::from("OBJS =");
    for i in 0..16 {
        let mut c = format!("unsigned long f{i}(unsigned long x) {{\n");
        for j in 0..1500 {
            let _ = writeln!(c, "  x = (x * {}u + {}u) ^ (x >> {});", 2 * j + 3, i * 7 + j, j % 13 + 1);
        }
        c.push_str("  return x;\n}\n");
        std::fs::write(format!("{out}/f{i}.c"), c).unwrap();
        let _ = write!(makefile, " f{i}.o");
    }
    makefile.push_str("\nall: $(OBJS)\n%.o: %.c\n\tcc -O2 -c $< -o $@\n");
    std::fs::write(format!("{out}/Makefile"), makefile).unwrap();
    let flags = std::env::var("CARGO_MAKEFLAGS").unwrap_or_default();
    let status = Command::new("make").args(["-s", "-C", &out]).env("MAKEFLAGS", flags).status().expect("make");
    assert!(status.success());
}
