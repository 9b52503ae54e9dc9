//! Verilates hw/rtl and compiles the model, Verilator's runtime and the C shim into one static
//! library. The RTL parameters are set here and handed to the crate as environment variables,
//! so the Rust side and the model cannot disagree.

use std::path::{Path, PathBuf};
use std::process::Command;

const TOP: &str = "fix_seqcheck";
const NUM_SESSIONS: u32 = 4;
/// gapless_codec::Limits::default().max_message_len, which the reference checker uses.
const MAX_MSG_LEN: u32 = 64 * 1024;
const HIST_BYTES: u32 = 64 * 1024;
const VERILATOR_INCLUDE: &str = "/usr/share/verilator/include";
const INSTALL_HINT: &str = "install it with `apt-get install -y verilator` \
                            (the project is tested with Verilator 5.006)";

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let rtl = manifest.join("../../hw/rtl");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let mdir = out.join("verilated");

    println!("cargo:rerun-if-changed={}", rtl.display());
    println!("cargo:rerun-if-changed=csrc/shim.cpp");
    println!("cargo:rerun-if-env-changed=VERILATOR");
    println!("cargo:rustc-env=HWSIM_NUM_SESSIONS={NUM_SESSIONS}");
    println!("cargo:rustc-env=HWSIM_MAX_MSG_LEN={MAX_MSG_LEN}");

    let mut sources: Vec<PathBuf> = std::fs::read_dir(&rtl)
        .unwrap_or_else(|e| panic!("reading {}: {e}", rtl.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "v"))
        .collect();
    sources.sort();
    for source in &sources {
        println!("cargo:rerun-if-changed={}", source.display());
    }

    // A stale model must not be linked in: start from an empty directory.
    let _ = std::fs::remove_dir_all(&mdir);
    std::fs::create_dir_all(&mdir).expect("create the Verilator output directory");
    // VERILATOR names another binary than the one on PATH.
    let verilator = std::env::var_os("VERILATOR").unwrap_or_else(|| "verilator".into());
    let status = Command::new(&verilator)
        .args(["--cc", "-O3", "--top-module", TOP, "-Wall"])
        .arg(format!("-GNUM_SESSIONS={NUM_SESSIONS}"))
        .arg(format!("-GMAX_MSG_LEN={MAX_MSG_LEN}"))
        .arg(format!("-GHIST_BYTES={HIST_BYTES}"))
        .arg(format!("-I{}", rtl.display()))
        .arg("-Mdir")
        .arg(&mdir)
        .args(&sources)
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("verilator failed ({status}) on {}", rtl.display()),
        Err(e) => panic!(
            "cannot run {}: {e}; {INSTALL_HINT}",
            verilator.to_string_lossy()
        ),
    }
    assert!(
        Path::new(VERILATOR_INCLUDE).join("verilated.cpp").exists(),
        "Verilator's runtime is not in {VERILATOR_INCLUDE}; {INSTALL_HINT}"
    );

    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        // The model is the test's hot loop; optimise it even in debug builds.
        .opt_level(3)
        .debug(false)
        .warnings(false)
        .include(VERILATOR_INCLUDE)
        .include(Path::new(VERILATOR_INCLUDE).join("vltstd"))
        .include(&mdir)
        .file(Path::new(VERILATOR_INCLUDE).join("verilated.cpp"))
        .file(Path::new(VERILATOR_INCLUDE).join("verilated_threads.cpp"))
        .file(manifest.join("csrc/shim.cpp"));
    let mut generated: Vec<PathBuf> = std::fs::read_dir(&mdir)
        .expect("read the Verilator output directory")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "cpp"))
        .collect();
    generated.sort();
    build.files(generated);
    build.compile("fix_seqcheck_model");
}
