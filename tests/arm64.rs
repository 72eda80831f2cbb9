//! The BPF side builds for arm64 (what `cargo build --target aarch64-unknown-linux-gnu` and
//! `./dev.sh build-arm64` compile, a few seconds here instead of a cross-build): every
//! bpf/*.bpf.c compiles with -D__TARGET_ARCH_arm64 against bpf/arch/arm64/vmlinux.h and the
//! libbpf headers build.rs uses, libbpf opens the object, and it has the same programs and
//! maps as the x86 build of the same source.

use std::path::{Path, PathBuf};
use std::process::Command;

use libbpf_rs::libbpf_sys::API_HEADERS;
use libbpf_rs::ObjectBuilder;

/// A directory of its own under the system's temp dir, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The libbpf headers (bpf/bpf_helpers.h, bpf_tracing.h, ...) libbpf-rs was built with.
fn libbpf_headers(scratch: &Path) -> PathBuf {
    let dir = scratch.join("include");
    std::fs::create_dir_all(dir.join("bpf")).unwrap();
    for (name, text) in API_HEADERS.iter() {
        std::fs::write(dir.join("bpf").join(name), text).unwrap();
    }
    dir
}

include!("../bpf/arch/flags.rs");

/// Compiles `src` for `arch` (the kernel's name: x86, arm64) as build.rs does; the
/// object's program and map names, sorted.
fn compile(src: &Path, arch: &str, include: &Path, out: &Path) -> (Vec<String>, Vec<String>) {
    let bpf = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf");
    let obj = out.join(format!(
        "{}.{arch}.o",
        src.file_name().unwrap().to_string_lossy()
    ));
    let res = Command::new("clang")
        .args(["-g", "-O2", "-target", "bpf", "-fno-stack-protector"])
        .args(bpf_clang_args(&bpf, arch))
        .arg("-I")
        .arg(include)
        .arg("-c")
        .arg(src)
        .arg("-o")
        .arg(&obj)
        .output()
        .expect("clang (./dev.sh deps installs it)");
    assert!(
        res.status.success(),
        "{} does not compile for {arch}:\n{}",
        src.display(),
        String::from_utf8_lossy(&res.stderr)
    );
    let open = ObjectBuilder::default()
        .open_file(&obj)
        .unwrap_or_else(|e| panic!("libbpf cannot open the {arch} {}: {e}", obj.display()));
    let mut progs: Vec<String> = open
        .progs()
        .map(|p| p.name().to_string_lossy().into_owned())
        .collect();
    let mut maps: Vec<String> = open
        .maps()
        .map(|m| m.name().to_string_lossy().into_owned())
        .collect();
    progs.sort();
    maps.sort();
    (progs, maps)
}

#[test]
fn every_bpf_program_compiles_for_arm64_with_the_programs_of_x86() {
    let scratch =
        Scratch(std::env::temp_dir().join(format!("ebpf-jsonl-arm64-{}", std::process::id())));
    let include = libbpf_headers(&scratch.0);
    let bpf = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&bpf)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".bpf.c"))
        .collect();
    sources.sort();
    assert!(sources.len() >= 3, "{sources:?}");
    for src in &sources {
        let arm64 = compile(src, "arm64", &include, &scratch.0);
        let x86 = compile(src, "x86", &include, &scratch.0);
        assert!(
            !arm64.0.is_empty(),
            "{}: no programs for arm64",
            src.display()
        );
        assert_eq!(
            arm64,
            x86,
            "{}: arm64 (left) vs x86 programs, maps",
            src.display()
        );
    }
}
