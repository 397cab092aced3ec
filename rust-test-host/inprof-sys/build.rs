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
//! `inprof.pc` that came with it, read with `pkg-config --static`, and they
//! are linked statically too, so that a binary linking inprof needs no shared
//! library beyond glibc's at run time:
//!
//! - libcurl and zlib come from the `curl-sys` crate (a minimal curl compiled
//!   from source, TLS by rustls) and the `libz-sys` crate (zlib compiled from
//!   source), which link themselves; the bundled build compiles against
//!   curl-sys's headers (`-DINPROF_CURL_INCLUDE_DIR`).
//! - The others (protobuf-c, elfutils' libdw and libelf with the compressors
//!   libdw.a needs, zstd, libiberty) are the system's static archives
//!   (`lib*.a`, from the Debian -dev packages), found in pkg-config's library
//!   directories or the default ones; a missing one fails the build with the
//!   package to install.
//!
//! The `system-libs` feature or `INPROF_SYS_DYNAMIC=1` links them as the
//! system's shared libraries instead (libiberty.a stays an archive: it has no
//! shared build); the binary then needs them installed at run time.
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
    for var in [
        "INPROF_LIB_DIR",
        "INPROF_SYS_USE_PKG_CONFIG",
        "INPROF_SYS_DYNAMIC",
        "INPROF_STATIC",
        "PKG_CONFIG_PATH",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    // src/lib.rs links curl-sys and libz-sys (the static libcurl and zlib)
    // only under this cfg: unreferenced crates are not linked at all.
    println!("cargo:rustc-check-cfg=cfg(inprof_static_deps)");

    let use_pkg_config = env::var_os("CARGO_FEATURE_PKG_CONFIG").is_some() || env_flag("INPROF_SYS_USE_PKG_CONFIG");
    let static_deps = env::var_os("CARGO_FEATURE_SYSTEM_LIBS").is_none() && !env_flag("INPROF_SYS_DYNAMIC");

    let include_dir = match env::var_os("INPROF_LIB_DIR") {
        Some(dir) if !dir.is_empty() => {
            let (lib_dir, pc) = prebuilt(PathBuf::from(dir));
            link_static(&lib_dir, &pc, static_deps);
            bundled_header(&manifest_dir, &out_dir)
        }
        _ if use_pkg_config => system(),
        _ => {
            let (lib_dir, pc) = build_with_cmake(&manifest_dir, static_deps);
            link_static(&lib_dir, &pc, static_deps);
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

/// An environment variable set to anything but empty or "0".
fn env_flag(name: &str) -> bool {
    matches!(env::var(name).as_deref(), Ok(v) if !v.is_empty() && v != "0")
}

fn build_with_cmake(manifest_dir: &Path, static_deps: bool) -> (PathBuf, PathBuf) {
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
    let mut cfg = cmake::Config::new(manifest_dir);
    cfg.define("INPROF_BUILD_TESTS", "OFF").profile("RelWithDebInfo").build_target("inprof_static");
    // Compile against the headers of the curl that is linked: curl-sys's,
    // so that no libcurl development package is needed, or the system's
    // (empty: pkg-config's libcurl; set explicitly, as CMake's cache keeps
    // the value of an earlier build in the same directory).
    let curl_include = match static_deps {
        true => env::var_os("DEP_CURL_INCLUDE")
            .unwrap_or_else(|| fail("curl-sys did not say where its headers are (DEP_CURL_INCLUDE)")),
        false => Default::default(),
    };
    cfg.define("INPROF_CURL_INCLUDE_DIR", curl_include);
    let dst = cfg.build();
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

/// Libraries of inprof.pc that crates provide, compiled from source and
/// linked statically by themselves (see src/lib.rs).
const FROM_CRATES: [&str; 2] = ["curl", "z"];
/// glibc's libraries: always shared, as for any Rust binary.
const GLIBC: [&str; 6] = ["c", "m", "dl", "pthread", "rt", "util"];
/// What the static libdw.a and libelf.a need beyond inprof.pc's list
/// (`pkg-config --static --libs libdw`), in link order.
const DW_STATIC_DEPS: [&str; 4] = ["elf", "zstd", "lzma", "bz2"];

/// Links `lib_dir/libinprof.a` and what its `inprof.pc` says it needs:
/// statically when `static_deps`, else as shared libraries.
fn link_static(lib_dir: &Path, pc_file: &Path, static_deps: bool) {
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
                 apt-get install libprotobuf-c-dev zlib1g-dev libzstd-dev libdw-dev libelf-dev \
                 liblzma-dev libbz2-dev libiberty-dev (and libcurl4-openssl-dev for the \
                 `system-libs` route)",
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
    let deps = lib.libs.iter().filter(|n| n.as_str() != "inprof");
    if static_deps {
        println!("cargo:rustc-cfg=inprof_static_deps");
        // The .pc's order, then what libdw.a needs; each archive once, at its
        // first place (each needs only archives after it). Not bundled into
        // this crate's rlib: linked from where they lie, in this order, right
        // after libinprof.a and before curl-sys's and libz-sys's archives.
        let mut archives: Vec<&str> = Vec::new();
        let mut shared: Vec<&str> = Vec::new();
        for name in deps.map(String::as_str) {
            if FROM_CRATES.contains(&name) {
                continue;
            }
            if GLIBC.contains(&name) {
                shared.push(name);
                continue;
            }
            archives.push(name);
            if name == "dw" {
                archives.extend(DW_STATIC_DEPS);
            }
        }
        let mut seen = Vec::new();
        for name in archives {
            if seen.contains(&name) {
                continue;
            }
            seen.push(name);
            let dir = find_archive(name, &lib.link_paths);
            println!("cargo:rustc-link-search=native={}", dir.display());
            println!("cargo:rustc-link-lib=static:-bundle={name}");
        }
        for name in shared {
            println!("cargo:rustc-link-lib=dylib={name}");
        }
    } else {
        // In the .pc's order. By file name (`-l:libcurl.so`): curl-sys and
        // libz-sys are still dependencies, unlinked, but their build
        // directories (holding libcurl.a and libz.a) are on the linker's
        // search path ahead of the system's, and `-lcurl` would find them.
        for name in deps {
            if GLIBC.contains(&name.as_str()) {
                println!("cargo:rustc-link-lib=dylib={name}");
            } else {
                println!("cargo:rustc-link-lib=dylib:+verbatim=lib{name}.so");
            }
        }
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

/// The directory holding `lib<name>.a`: one of `extra` (the .pc's -L
/// directories), the library directory of the pkg-config module of that name,
/// or the toolchain's default library directories.
fn find_archive(name: &str, extra: &[PathBuf]) -> PathBuf {
    let file = format!("lib{name}.a");
    let mut dirs: Vec<PathBuf> = extra.to_vec();
    for module in [format!("lib{name}"), name.to_string()] {
        if let Ok(out) = std::process::Command::new("pkg-config").args(["--variable=libdir", &module]).output() {
            let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !dir.is_empty() {
                dirs.push(PathBuf::from(dir));
            }
        }
    }
    // What the C compiler itself searches (multiarch directories included).
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    if let Ok(out) = std::process::Command::new(&cc).arg(format!("-print-file-name={file}")).output() {
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if p.is_absolute() {
            if let Some(d) = p.parent() {
                dirs.push(d.to_path_buf());
            }
        }
    }
    dirs.extend(["/usr/local/lib", "/usr/lib64", "/usr/lib", "/lib"].map(PathBuf::from));
    if let Some(dir) = dirs.into_iter().find(|d| d.join(&file).is_file()) {
        println!("cargo:rerun-if-changed={}", dir.join(&file).display());
        return dir;
    }
    let package = match name {
        "protobuf-c" => "libprotobuf-c-dev",
        "dw" => "libdw-dev",
        "elf" => "libelf-dev",
        "zstd" => "libzstd-dev",
        "lzma" => "liblzma-dev",
        "bz2" => "libbz2-dev",
        "iberty" => "libiberty-dev",
        _ => "the development package that has it",
    };
    fail(&format!(
        "{file} (a static archive) is needed to link libinprof's dependencies statically, but it \
         is not in pkg-config's or the compiler's library directories. On Debian: apt-get \
         install {package}. Or link the system's shared libraries instead (the binary then \
         needs them at run time): the `system-libs` feature of inprof-sys, or \
         INPROF_SYS_DYNAMIC=1"
    ))
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
