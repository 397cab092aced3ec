//! Builds libinprof and tells rustc how to link it.
//!
//! - Default: the repository's CMake project (two directories above this
//!   crate) is built and installed into OUT_DIR with the `cmake` crate, tests
//!   off, always optimized (a profiler built at -O0 distorts what it measures).
//! - `INPROF_LIB_DIR=/path`: a prebuilt `libinprof.a` in that directory is used
//!   instead, with `inprof.pc` next to it or in its `pkgconfig/` subdirectory
//!   (a CMake build directory and an install's lib directory both qualify).
//!
//! The library itself is linked by the `#[link(name = "inprof", kind =
//! "static")]` attribute in src/sys.rs, exactly once; this script only adds the
//! search path and the libraries that `inprof.pc` says the static library
//! needs. Those are read with "shared dependencies" semantics: the modules in
//! `Requires.private` are probed as shared libraries (their own private
//! dependencies are not needed then, and Debian's -dev packages do not always
//! ship them), and the entries of `Libs.private` (libiberty.a, -ldl, ...) are
//! linked as written.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// The library version this crate's declarations were written for (major,
/// minor); a prebuilt library of another minor version is refused here, and
/// src/lib.rs checks the runtime value again at start.
const EXPECTED_MAJOR_MINOR: (u32, u32) = (0, 1);

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    println!("cargo:rerun-if-env-changed=INPROF_LIB_DIR");
    println!("cargo:rerun-if-changed=build.rs");

    let (lib_dir, pc_file) = match env::var_os("INPROF_LIB_DIR") {
        Some(dir) if !dir.is_empty() => prebuilt(PathBuf::from(dir)),
        _ => build_with_cmake(&manifest_dir),
    };

    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    link_dependencies(&pc_file);

    // Metadata for crates that depend on this one (DEP_INPROF_LIB_DIR, ...).
    println!("cargo:lib_dir={}", lib_dir.display());
    if let Some(root) = repo_root(&manifest_dir) {
        println!("cargo:include={}", root.join("include").display());
    }
}

fn repo_root(manifest_dir: &Path) -> Option<PathBuf> {
    let root = manifest_dir.join("../..");
    if root.join("include/inprof.h").is_file() && root.join("CMakeLists.txt").is_file() {
        Some(root.canonicalize().unwrap_or(root))
    } else {
        None
    }
}

fn build_with_cmake(manifest_dir: &Path) -> (PathBuf, PathBuf) {
    let root = repo_root(manifest_dir).unwrap_or_else(|| {
        fail(&format!(
            "the inprof C sources were not found at {} (expected include/inprof.h and \
             CMakeLists.txt); set INPROF_LIB_DIR to a directory holding a prebuilt \
             libinprof.a and inprof.pc",
            manifest_dir.join("../..").display()
        ))
    });
    for p in ["c-src", "include", "CMakeLists.txt", "inprof.pc.in"] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    // The C side's own compiler flags come from CMakeLists.txt; the cmake crate
    // adds -fPIC and the target flags cargo wants.
    let dst = cmake::Config::new(&root)
        .define("INPROF_BUILD_TESTS", "OFF")
        .define("CMAKE_INSTALL_LIBDIR", "lib")
        .profile("RelWithDebInfo")
        .build();
    let lib_dir = dst.join("lib");
    let pc = lib_dir.join("pkgconfig/inprof.pc");
    if !lib_dir.join("libinprof.a").is_file() || !pc.is_file() {
        fail(&format!(
            "the CMake build finished but {} or {} is missing",
            lib_dir.join("libinprof.a").display(),
            pc.display()
        ));
    }
    (lib_dir, pc)
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

/// Emits the libraries libinprof.a needs, as declared by `inprof.pc`.
fn link_dependencies(pc_file: &Path) {
    let pc_dir = pc_file.parent().unwrap();
    let mut path = env::split_paths(&env::var_os("PKG_CONFIG_PATH").unwrap_or_default())
        .collect::<Vec<_>>();
    path.insert(0, pc_dir.to_path_buf());
    env::set_var("PKG_CONFIG_PATH", env::join_paths(path).unwrap());

    // Validates the .pc (and that its Requires.private modules are installed)
    // without emitting anything: the library itself is linked by #[link].
    let inprof = pkg_config::Config::new()
        .cargo_metadata(false)
        .env_metadata(false)
        .probe("inprof")
        .unwrap_or_else(|e| fail(&format!("pkg-config could not read {}: {e}", pc_file.display())));
    check_version(&inprof.version, pc_file);

    let pc = PcFile::read(pc_file);
    // libunwind.so also defines the GCC unwinder ABI (_Unwind_RaiseException
    // and friends). Whichever library comes first on the link line provides
    // it to the whole process, and with --as-needed libgcc_s then drops out:
    // Rust panics would be unwound by libunwind. Naming libgcc_s first keeps
    // Rust's (and C++'s) unwinding where the toolchain put it; libinprof
    // calls libunwind only through its own unw_* names.
    if env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu") {
        println!("cargo:rustc-link-lib=dylib=gcc_s");
    }
    for module in pc.requires_private() {
        pkg_config::Config::new()
            .statik(false)
            .probe(&module)
            .unwrap_or_else(|e| {
                fail(&format!(
                    "libinprof needs {module} (Requires.private of {}): {e}\n\
                     On Debian: apt-get install libunwind-dev libprotobuf-c-dev zlib1g-dev \
                     libzstd-dev libcurl4-openssl-dev libiberty-dev",
                    pc_file.display()
                ))
            });
    }
    for flag in pc.libs_private() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(name) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={name}");
        } else if flag == "-pthread" {
            println!("cargo:rustc-link-lib=dylib=pthread");
        } else if flag.ends_with(".a") && Path::new(&flag).is_absolute() {
            // A full path to an archive (libiberty.a): link that file statically.
            let p = Path::new(&flag);
            let stem = p.file_name().unwrap().to_string_lossy();
            let name = stem.strip_prefix("lib").unwrap_or(&stem).trim_end_matches(".a");
            println!("cargo:rustc-link-search=native={}", p.parent().unwrap().display());
            println!("cargo:rustc-link-lib=static={name}");
        } else if flag.ends_with(".so") && Path::new(&flag).is_absolute() {
            let p = Path::new(&flag);
            let stem = p.file_name().unwrap().to_string_lossy();
            let name = stem.strip_prefix("lib").unwrap_or(&stem).trim_end_matches(".so");
            println!("cargo:rustc-link-search=native={}", p.parent().unwrap().display());
            println!("cargo:rustc-link-lib=dylib={name}");
        } else {
            println!("cargo:warning=inprof.pc: ignoring Libs.private entry {flag:?}");
        }
    }
}

fn check_version(version: &str, pc_file: &Path) {
    let mut it = version.split('.').map(|s| s.parse::<u32>().unwrap_or(u32::MAX));
    let got = (it.next().unwrap_or(u32::MAX), it.next().unwrap_or(u32::MAX));
    if got != EXPECTED_MAJOR_MINOR {
        fail(&format!(
            "{} says libinprof {version}, but this crate was written for {}.{}.x",
            pc_file.display(),
            EXPECTED_MAJOR_MINOR.0,
            EXPECTED_MAJOR_MINOR.1
        ));
    }
}

/// Just enough of the .pc format: `name=value` variables with `${name}`
/// references, and `Field: value` lines.
struct PcFile {
    vars: Vec<(String, String)>,
    fields: Vec<(String, String)>,
}

impl PcFile {
    fn read(path: &Path) -> PcFile {
        let text = fs::read_to_string(path)
            .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", path.display())));
        let mut pc = PcFile { vars: Vec::new(), fields: Vec::new() };
        for line in text.lines() {
            let line = line.split('#').next().unwrap().trim();
            if line.is_empty() {
                continue;
            }
            let colon = line.find(':');
            let eq = line.find('=');
            match (colon, eq) {
                (Some(c), Some(e)) if e < c => {
                    let v = pc.expand(line[e + 1..].trim());
                    pc.vars.push((line[..e].trim().to_string(), v));
                }
                (None, Some(e)) => {
                    let v = pc.expand(line[e + 1..].trim());
                    pc.vars.push((line[..e].trim().to_string(), v));
                }
                (Some(c), _) => {
                    let v = pc.expand(line[c + 1..].trim());
                    pc.fields.push((line[..c].trim().to_string(), v));
                }
                _ => {}
            }
        }
        pc
    }

    fn expand(&self, value: &str) -> String {
        let mut out = String::new();
        let mut rest = value;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) => {
                    let name = &after[..end];
                    let v = self.vars.iter().rev().find(|(k, _)| k == name);
                    out.push_str(v.map(|(_, v)| v.as_str()).unwrap_or(""));
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }

    fn field(&self, name: &str) -> String {
        self.fields
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Module names, without version constraints ("libcurl >= 7.0" -> libcurl).
    fn requires_private(&self) -> Vec<String> {
        let spec = self.field("Requires.private").replace(',', " ");
        let toks: Vec<&str> = spec.split_whitespace().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            if matches!(toks[i], "=" | "<" | ">" | "<=" | ">=" | "!=") {
                i += 2; // operator and version
                continue;
            }
            out.push(toks[i].to_string());
            i += 1;
        }
        out
    }

    fn libs_private(&self) -> Vec<String> {
        self.field("Libs.private").split_whitespace().map(str::to_string).collect()
    }
}

fn fail(msg: &str) -> ! {
    // A panic in build.rs shows its message in cargo's output; keep it readable.
    eprintln!("error: {msg}");
    panic!("inprof build failed: {msg}");
}
