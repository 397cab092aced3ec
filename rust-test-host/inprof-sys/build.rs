//! Finds or builds libinprof and tells rustc how to link it, in one of three
//! ways (the first that applies):
//!
//! 1. `INPROF_LIB_DIR=/path`: a prebuilt `libinprof.a` in that directory, with
//!    `inprof.pc` beside it or in its `pkgconfig/` subdirectory (a CMake build
//!    directory and an install's lib directory both qualify). Linked
//!    statically.
//! 2. The `pkg-config` feature or `INPROF_SYS_USE_PKG_CONFIG=1`: the installed
//!    library, linked as pkg-config says (shared unless `INPROF_STATIC=1`,
//!    which the pkg-config crate reads).
//! 3. Otherwise the C sources shipped in this package (`c-src/`, `include/`,
//!    `CMakeLists.txt`, `inprof.pc.in`) are built with the repository's own
//!    CMake project, target `inprof_static`, tests off, always optimized (a
//!    profiler built at -O0 distorts what it measures). Linked statically.
//!
//! In 1 and 3 the libraries the static archive needs are those of the
//! `inprof.pc` that came with it, read with `pkg-config --static`: the
//! dependencies are linked as shared libraries, libiberty.a as an archive.
//!
//! Dependents' build scripts see `DEP_INPROF_INCLUDE` (a directory holding
//! `inprof.h`) and `DEP_INPROF_LIB_DIR`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// The library version this crate's declarations were written for (major,
/// minor); another minor version is refused here, and the `inprof` crate
/// checks the runtime value again at start.
const EXPECTED_MAJOR_MINOR: (u32, u32) = (0, 1);

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed=build.rs");
    for var in ["INPROF_LIB_DIR", "INPROF_SYS_USE_PKG_CONFIG", "INPROF_STATIC", "PKG_CONFIG_PATH"] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let use_pkg_config = env::var_os("CARGO_FEATURE_PKG_CONFIG").is_some()
        || matches!(env::var("INPROF_SYS_USE_PKG_CONFIG").as_deref(), Ok(v) if !v.is_empty() && v != "0");

    let include_dir = match env::var_os("INPROF_LIB_DIR") {
        Some(dir) if !dir.is_empty() => {
            let (lib_dir, pc) = prebuilt(PathBuf::from(dir));
            link_static(&lib_dir, &pc);
            bundled_header(&manifest_dir, &out_dir)
        }
        _ if use_pkg_config => system(),
        _ => {
            let (lib_dir, pc) = build_with_cmake(&manifest_dir);
            link_static(&lib_dir, &pc);
            bundled_header(&manifest_dir, &out_dir)
        }
    };
    println!("cargo:include={}", include_dir.display());
}

/// Copies the packaged header to OUT_DIR/include, so that dependents get a
/// directory holding the public header and nothing else.
fn bundled_header(manifest_dir: &Path, out_dir: &Path) -> PathBuf {
    let src = manifest_dir.join("include/inprof.h");
    let dir = out_dir.join("include");
    fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", dir.display())));
    fs::copy(&src, dir.join("inprof.h"))
        .unwrap_or_else(|e| fail(&format!("cannot copy {} to {}: {e}", src.display(), dir.display())));
    dir
}

fn build_with_cmake(manifest_dir: &Path) -> (PathBuf, PathBuf) {
    let required = ["CMakeLists.txt", "inprof.pc.in", "include/inprof.h", "c-src"];
    if let Some(missing) = required.iter().find(|p| !manifest_dir.join(p).exists()) {
        fail(&format!(
            "the bundled C sources are incomplete: {} is missing (in a checkout, c-src, include, \
             CMakeLists.txt and inprof.pc.in are symlinks to the repository root). Set \
             INPROF_LIB_DIR to a prebuilt libinprof.a, or enable the `pkg-config` feature",
            manifest_dir.join(missing).display()
        ));
    }
    for p in ["c-src", "include", "CMakeLists.txt", "inprof.pc.in"] {
        // Through the symlinks to the real files, so that cargo watches those.
        let p = manifest_dir.join(p);
        println!("cargo:rerun-if-changed={}", p.canonicalize().unwrap_or(p).display());
    }
    // Only the static library's target: tests, the shared library and
    // anything else the project defines stay unbuilt. The C side's own
    // compiler flags come from CMakeLists.txt; the cmake crate adds -fPIC and
    // the target flags cargo wants.
    let dst = cmake::Config::new(manifest_dir)
        .define("INPROF_BUILD_TESTS", "OFF")
        .profile("RelWithDebInfo")
        .build_target("inprof_static")
        .build();
    let build = dst.join("build");
    let lib = find_file(&build, "libinprof.a", 3)
        .unwrap_or_else(|| fail(&format!("the CMake build finished but no libinprof.a is under {}", build.display())));
    let pc = find_file(&build, "inprof.pc", 2)
        .unwrap_or_else(|| fail(&format!("the CMake build finished but no inprof.pc is under {}", build.display())));
    (lib.parent().unwrap().to_path_buf(), pc)
}

/// Breadth-first search for a file name, at most `depth` directories down.
fn find_file(dir: &Path, name: &str, depth: u32) -> Option<PathBuf> {
    let mut level = vec![dir.to_path_buf()];
    for _ in 0..=depth {
        let mut next = Vec::new();
        for d in &level {
            if d.join(name).is_file() {
                return Some(d.join(name));
            }
            for e in fs::read_dir(d).into_iter().flatten().flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    next.push(e.path());
                }
            }
        }
        next.sort();
        level = next;
    }
    None
}

fn prebuilt(dir: PathBuf) -> (PathBuf, PathBuf) {
    let lib = dir.join("libinprof.a");
    if !lib.is_file() {
        fail(&format!("INPROF_LIB_DIR={}: no libinprof.a there", dir.display()));
    }
    println!("cargo:rerun-if-changed={}", lib.display());
    let pc = [dir.join("pkgconfig/inprof.pc"), dir.join("inprof.pc")]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            fail(&format!(
                "INPROF_LIB_DIR={}: no inprof.pc in it or in its pkgconfig/ subdirectory",
                dir.display()
            ))
        });
    println!("cargo:rerun-if-changed={}", pc.display());
    (dir, pc)
}

/// Links `lib_dir/libinprof.a` and what its `inprof.pc` says it needs.
fn link_static(lib_dir: &Path, pc_file: &Path) {
    let pc_dir = pc_file.parent().unwrap();
    let mut path = env::split_paths(&env::var_os("PKG_CONFIG_PATH").unwrap_or_default()).collect::<Vec<_>>();
    path.insert(0, pc_dir.to_path_buf());
    // Build scripts are single-threaded: setting our own environment is safe.
    env::set_var("PKG_CONFIG_PATH", env::join_paths(path).unwrap());

    // Metadata is emitted below rather than by the crate: the .pc of a build
    // directory points its libdir elsewhere, and the archive is ours to name.
    let lib = pkg_config::Config::new()
        .statik(true)
        .cargo_metadata(false)
        .env_metadata(false)
        .probe("inprof")
        .unwrap_or_else(|e| {
            fail(&format!(
                "pkg-config could not read {}: {e}\nOn Debian the libraries it names come from: \
                 apt-get install libprotobuf-c-dev zlib1g-dev libzstd-dev \
                 libcurl4-openssl-dev libiberty-dev",
                pc_file.display()
            ))
        });
    check_version(&lib.version, &pc_file.display().to_string());

    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    println!("cargo:rustc-link-lib=static=inprof");
    println!("cargo:lib_dir={}", lib_dir.display());
    for dir in lib.link_paths.iter().filter(|d| d.is_dir()) {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
    // In the .pc's order.
    for name in lib.libs.iter().filter(|n| n.as_str() != "inprof") {
        println!("cargo:rustc-link-lib=dylib={name}");
    }
    // Archives named by full path (libiberty.a, which has no shared build).
    for file in &lib.link_files {
        let stem = file.file_name().unwrap().to_string_lossy();
        let name = stem.strip_prefix("lib").unwrap_or(&stem);
        let (name, kind) = match name.strip_suffix(".a") {
            Some(n) => (n, "static"),
            None => (name.trim_end_matches(".so"), "dylib"),
        };
        println!("cargo:rustc-link-search=native={}", file.parent().unwrap().display());
        println!("cargo:rustc-link-lib={kind}={name}");
    }
}

/// The installed library, linked as its inprof.pc says.
fn system() -> PathBuf {
    let lib = pkg_config::Config::new().probe("inprof").unwrap_or_else(|e| {
        fail(&format!(
            "the pkg-config feature (or INPROF_SYS_USE_PKG_CONFIG) asks for an installed libinprof, \
             but pkg-config did not find it: {e}\nInstall it (cmake --install) and point \
             PKG_CONFIG_PATH at its lib/pkgconfig, or build the bundled sources (the default)"
        ))
    });
    check_version(&lib.version, "pkg-config's inprof");
    if let Some(dir) = lib.link_paths.first() {
        println!("cargo:lib_dir={}", dir.display());
    }
    lib.include_paths
        .iter()
        .find(|d| d.join("inprof.h").is_file())
        .cloned()
        .unwrap_or_else(|| fail("pkg-config's inprof.pc names no include directory holding inprof.h"))
}

fn check_version(version: &str, what: &str) {
    let mut it = version.split('.').map(|s| s.parse::<u32>().unwrap_or(u32::MAX));
    let got = (it.next().unwrap_or(u32::MAX), it.next().unwrap_or(u32::MAX));
    if got != EXPECTED_MAJOR_MINOR {
        fail(&format!(
            "{what} says libinprof {version}, but this crate was written for {}.{}.x",
            EXPECTED_MAJOR_MINOR.0, EXPECTED_MAJOR_MINOR.1
        ));
    }
}

fn fail(msg: &str) -> ! {
    // A panic in build.rs shows its message in cargo's output; keep it readable.
    eprintln!("error: {msg}");
    panic!("inprof-sys build failed: {msg}");
}
