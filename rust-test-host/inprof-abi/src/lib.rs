//! The ABI check of `inprof-sys` (tests only; see tests/abi.rs): its Rust
//! declarations against `inprof.h` as exported by its build script, by
//! cbindgen and by the layouts a C compiler gives the shared structs.

/// The directory holding the `inprof.h` that inprof-sys was built with.
pub const INCLUDE_DIR: &str = env!("INPROF_INCLUDE_DIR");
