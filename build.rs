//! Compiles every `bpf/*.bpf.c` into a libbpf-rs skeleton under OUT_DIR
//! (`<name>.skel.rs`), so the event layouts in `bpf/*.h` reach Rust as
//! generated types instead of hand-copied structs.

use std::env;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{exit, Command};

use libbpf_cargo::SkeletonBuilder;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let bpf_dir = manifest.join("bpf");
    println!("cargo:rerun-if-changed=bpf");

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
            .clang_args([OsStr::new("-I"), bpf_dir.as_os_str(), OsStr::new("-Wall")])
            .build_and_generate(&skel)
        {
            eprintln!("\nebpf-jsonl: compiling {} failed: {e:#}\n", src.display());
            exit(1);
        }
    }
}
