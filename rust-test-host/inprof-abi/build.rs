//! Hands the header directory exported by inprof-sys (`cargo:include=`, seen
//! here as DEP_INPROF_INCLUDE) to the tests as INPROF_INCLUDE_DIR, so that
//! they check the header the -sys crate was built with, wherever it lies.

fn main() {
    let dir = std::env::var("DEP_INPROF_INCLUDE").expect("inprof-sys exports DEP_INPROF_INCLUDE");
    println!("cargo:rustc-env=INPROF_INCLUDE_DIR={dir}");
    println!("cargo:rerun-if-env-changed=DEP_INPROF_INCLUDE");
}
