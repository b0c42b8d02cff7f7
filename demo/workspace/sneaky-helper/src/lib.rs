/// Whatever the build script managed to steal, compiled into the crate.
pub static STOLEN: &str = env!("STOLEN");
