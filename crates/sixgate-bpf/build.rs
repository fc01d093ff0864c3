//! With the `programs` feature, compiles every `bpf/*.bpf.c` with clang for the BPF target
//! into `$OUT_DIR/<name>.bpf.o`, which the crate embeds. Without it, does nothing: the
//! default build needs no C toolchain.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=bpf");
    println!("cargo:rerun-if-env-changed=CLANG");
    if std::env::var_os("CARGO_FEATURE_PROGRAMS").is_none() {
        return;
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok(other) => panic!("the BPF programs have no build for target arch {other}"),
        Err(_) => "x86",
    };
    // Debian keeps asm/types.h under the multiarch include directory.
    let multiarch = match arch {
        "arm64" => "/usr/include/aarch64-linux-gnu",
        _ => "/usr/include/x86_64-linux-gnu",
    };
    let mut sources: Vec<PathBuf> = std::fs::read_dir("bpf")
        .expect("bpf/ holds the programs")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
        .collect();
    sources.sort();
    for src in sources {
        let name = src.file_name().unwrap().to_string_lossy().replace(".bpf.c", ".bpf.o");
        let obj = out.join(&name);
        let status = Command::new(&clang)
            .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
            .arg(format!("-D__TARGET_ARCH_{arch}"))
            .arg("-I")
            .arg(multiarch)
            .arg("-I")
            .arg("bpf")
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(&obj)
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "feature `programs` needs clang with the BPF target ({clang}: {e}); \
                     install clang and libbpf-dev (apt-get install clang libbpf-dev) or build without it"
                )
            });
        assert!(status.success(), "clang failed on {} (feature `programs` needs clang and libbpf-dev)", src.display());
    }
}
