//! Compiles every `bpf/*.bpf.c` into a libbpf-rs skeleton under OUT_DIR
//! (`<name>.skel.rs`), so the event layouts in `bpf/*.h` reach Rust as
//! generated types instead of hand-copied structs.
//!
//! The programs are built for the target's architecture (cargo's
//! CARGO_CFG_TARGET_ARCH, so `--target aarch64-unknown-linux-gnu` gives arm64
//! objects): `-D__TARGET_ARCH_<arch>` for bpf_tracing.h's register macros and
//! bpf/arch/<arch>/vmlinux.h, that architecture's kernel types (struct pt_regs
//! differs between them).

use std::env;
use std::path::PathBuf;
use std::process::{exit, Command};

use libbpf_cargo::SkeletonBuilder;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let bpf_dir = manifest.join("bpf");
    println!("cargo:rerun-if-changed=bpf");
    let target = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let Some(arch) = bpf_arch(&target) else {
        eprintln!(
            "\nebpf-jsonl: no kernel headers for target architecture `{target}`: \
             build for x86_64 or aarch64 (bpf/arch/ has a vmlinux.h for each)\n"
        );
        exit(1);
    };

    if Command::new("clang").arg("--version").output().is_err() {
        eprintln!(
            "\nebpf-jsonl: `clang` was not found; it compiles the kernel side in bpf/.\n\
             Install the build dependencies with `./dev.sh deps` (Debian/Ubuntu: \
             apt-get install clang libelf-dev zlib1g-dev pkg-config make)\n"
        );
        exit(1);
    }

    let mut sources: Vec<PathBuf> = std::fs::read_dir(&bpf_dir)
        .expect("bpf/ directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
        .collect();
    sources.sort();
    for src in sources {
        let stem = src
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".bpf.c")
            .to_string();
        let skel = out.join(format!("{stem}.skel.rs"));
        if let Err(e) = SkeletonBuilder::new()
            .source(&src)
            .clang_args(bpf_clang_args(&bpf_dir, arch))
            .build_and_generate(&skel)
        {
            eprintln!("\nebpf-jsonl: compiling {} failed: {e:#}\n", src.display());
            exit(1);
        }
    }
}

include!("bpf/arch/flags.rs");
