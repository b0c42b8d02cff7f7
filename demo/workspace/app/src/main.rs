fn main() {
    unsafe {
        println!("linked OpenSSL {:#x}", openssl_sys::OpenSSL_version_num());
        println!("linked SQLite {}", libsqlite3_sys::sqlite3_libversion_number());
        println!("linked zlib {:?}", std::ffi::CStr::from_ptr(libz_sys::zlibVersion()));
        println!("linked zstd {}", zstd_sys::ZSTD_versionNumber());
    }
    let d = ring::digest::digest(&ring::digest::SHA256, b"demo");
    println!("ring SHA-256 digest of \"demo\" starts {:02x}{:02x}", d.as_ref()[0], d.as_ref()[1]);
    println!("sneaky-helper smuggled: {:?}", sneaky_helper::STOLEN);
}
