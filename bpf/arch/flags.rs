// How bpf/*.bpf.c are compiled for one architecture, beyond libbpf-cargo's own
// flags (-g -O2 -target bpf, libbpf's headers): include!d by build.rs,
// testkit/build.rs and tests/arm64.rs, so the three build the same objects.

/// Cargo's target_arch → the kernel's name for it (bpf/arch/<name>/vmlinux.h,
/// -D__TARGET_ARCH_<name> for bpf_tracing.h's register macros).
#[allow(dead_code)]
fn bpf_arch(target_arch: &str) -> Option<&'static str> {
    match target_arch {
        "x86_64" => Some("x86"),
        "aarch64" => Some("arm64"),
        _ => None,
    }
}

/// The flags for kernel architecture `arch` (x86, arm64); `bpf` is the product's bpf/.
fn bpf_clang_args(bpf: &std::path::Path, arch: &str) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec!["-I".into(), bpf.into(), "-I".into()];
    args.push(bpf.join("arch").join(arch).into());
    args.push(format!("-D__TARGET_ARCH_{arch}").into());
    // vmlinux.h from a 6.19+ kernel embeds named structs as members, as the
    // kernel (built with -fms-extensions) does
    args.extend(["-fms-extensions", "-Wno-microsoft-anon-tag", "-Wall"].map(Into::into));
    args
}
