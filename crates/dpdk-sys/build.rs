//! Generates the DPDK bindings and compiles the inline-function shim, only with the `dpdk`
//! feature. Without it this script does nothing, so the workspace builds where DPDK is absent.

fn main() {
    #[cfg(feature = "dpdk")]
    dpdk::generate();
}

#[cfg(feature = "dpdk")]
mod dpdk {
    use std::env;
    use std::path::PathBuf;

    /// What to install when DPDK is missing (Debian and Ubuntu package names).
    const INSTALL_HINT: &str = "the `dpdk` feature needs DPDK 22.11 or later, found through \
        pkg-config as `libdpdk`, and libclang for bindgen: \
        apt-get install libdpdk-dev pkg-config libclang-dev";

    pub(super) fn generate() {
        println!("cargo:rerun-if-changed=src/shim.h");
        println!("cargo:rerun-if-changed=src/shim.c");
        let library = match pkg_config::Config::new()
            .atleast_version("22.11")
            .probe("libdpdk")
        {
            Ok(library) => library,
            Err(error) => panic!("{INSTALL_HINT}\n\npkg-config said: {error}"),
        };
        let cflags = cflags(&library);

        let mut shim = cc::Build::new();
        shim.file("src/shim.c").opt_level(3);
        for flag in &cflags {
            shim.flag(flag);
        }
        shim.compile("gapless_dpdk_shim");

        let bindings = bindgen::Builder::default()
            .header("src/shim.h")
            .clang_args(&cflags)
            .rust_edition(bindgen::RustEdition::Edition2024)
            .rust_target(bindgen::RustTarget::stable(85, 0).unwrap_or_else(|_| {
                panic!("bindgen does not know Rust 1.85; update bindgen")
            }))
            .wrap_unsafe_ops(true)
            .allowlist_function("gapless_rte_.*")
            .allowlist_function("rte_eal_(init|cleanup)")
            .allowlist_function("rte_strerror")
            .allowlist_function("rte_get_tsc_hz")
            .allowlist_function("rte_socket_id")
            .allowlist_function("rte_eth_(dev_count_avail|dev_configure|dev_info_get|rx_queue_setup|tx_queue_setup|dev_start|dev_stop|dev_close|link_get_nowait|macaddr_get|dev_default_mac_addr_set|dev_socket_id|promiscuous_enable|dev_get_port_by_name|find_next_owned_by)")
            .allowlist_function("rte_pktmbuf_pool_create")
            .allowlist_function("rte_mempool_(free|avail_count|in_use_count)")
            .allowlist_var("RTE_(MAX_ETHPORTS|PKTMBUF_HEADROOM|MBUF_DEFAULT_BUF_SIZE|ETHER_ADDR_LEN)")
            .allowlist_var("RTE_ETH_(LINK_UP|LINK_DOWN)")
            // The mbuf and mempool are only ever handled by pointer, through the shim.
            .opaque_type("rte_mbuf")
            .opaque_type("rte_mempool")
            .derive_default(true)
            .layout_tests(false)
            .generate_comments(false)
            .generate()
            .unwrap_or_else(|error| panic!("bindgen failed on the DPDK headers: {error}"));
        let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
        bindings
            .write_to_file(out.join("bindings.rs"))
            .expect("OUT_DIR is writable");
    }

    /// The compiler flags DPDK's headers need: its include paths, and `-include rte_config.h`
    /// and `-march`, which the pkg-config crate does not pass on, so they are read from
    /// `pkg-config --cflags` itself.
    fn cflags(library: &pkg_config::Library) -> Vec<String> {
        let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
        let output = std::process::Command::new(pkg_config)
            .args(["--cflags", "libdpdk"])
            .output()
            .unwrap_or_else(|error| panic!("{INSTALL_HINT}\n\ncannot run pkg-config: {error}"));
        let cflags = String::from_utf8_lossy(&output.stdout);
        let mut flags: Vec<String> = library
            .include_paths
            .iter()
            .map(|path| format!("-I{}", path.display()))
            .collect();
        let mut words = cflags.split_whitespace();
        while let Some(word) = words.next() {
            if word == "-include" {
                if let Some(file) = words.next() {
                    flags.extend(["-include".to_string(), file.to_string()]);
                }
            } else if !word.starts_with("-I") {
                flags.push(word.to_string());
            }
        }
        flags
    }
}
