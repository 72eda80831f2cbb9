//! Compiles the benchmarks' baseline XDP programs (bpf/bench_xdp.bpf.c) and
//! the program every verifier refuses (bpf/refused.bpf.c), with the product's
//! flags and bpf/arch/<arch>/vmlinux.h, into skeletons under OUT_DIR, builds
//! the exec tests' C helper (src/exec_helper.c) there, and tells the harness
//! where cargo puts the ebpf-jsonl binary.

use std::env;
use std::path::Path;
use std::path::PathBuf;
use std::process::{exit, Command};

use libbpf_cargo::SkeletonBuilder;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let product_bpf = manifest.join("../bpf");
    println!("cargo:rerun-if-changed=bpf");
    println!("cargo:rerun-if-changed=../bpf/arch");
    // the product's flags and vmlinux.h for the target's architecture
    let target = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let arch = bpf_arch(&target).unwrap_or("x86");
    for name in ["bench_xdp", "refused"] {
        let src = manifest.join(format!("bpf/{name}.bpf.c"));
        if let Err(e) = SkeletonBuilder::new()
            .source(&src)
            .clang_args(bpf_clang_args(&product_bpf, arch))
            .build_and_generate(out.join(format!("{name}.skel.rs")))
        {
            eprintln!(
                "\nebpf-jsonl-testkit: compiling {} failed: {e:#}\n",
                src.display()
            );
            exit(1);
        }
    }
    build_exec_helper(
        &manifest.join("src/exec_helper.c"),
        &out.join("exec_helper"),
    );
    // OUT_DIR is <target>/<profile>/build/<package>-<hash>/out; cargo puts the
    // binary that integration tests and benches run at <target>/<profile>/.
    let profile_dir = out
        .ancestors()
        .nth(3)
        .expect("OUT_DIR under target/<profile>");
    println!(
        "cargo:rustc-env=EBPF_JSONL_BIN={}",
        profile_dir.join("ebpf-jsonl").display()
    );
}

/// `cc -O2 -pthread` (gcc, from dev.sh's build packages); the path in
/// EXEC_HELPER for testkit::exec_helper.
fn build_exec_helper(src: &Path, exe: &Path) {
    println!("cargo:rerun-if-changed={}", src.display());
    let out = Command::new("cc")
        .args(["-O2", "-pthread", "-o"])
        .arg(exe)
        .arg(src)
        .output()
        .unwrap_or_else(|e| {
            eprintln!("\nebpf-jsonl-testkit: running cc: {e}\n");
            exit(1)
        });
    if !out.status.success() {
        eprintln!(
            "\nebpf-jsonl-testkit: cc {} failed:\n{}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        exit(1);
    }
    println!("cargo:rustc-env=EXEC_HELPER={}", exe.display());
}

include!("../bpf/arch/flags.rs");
