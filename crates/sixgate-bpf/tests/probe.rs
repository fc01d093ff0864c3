//! The kernel loads the probe program and runs it by BPF_PROG_TEST_RUN.

#[cfg(all(feature = "programs", target_os = "linux"))]
#[test]
fn the_kernel_loads_and_runs_the_probe_program() {
    match sixgate_bpf::probe() {
        Ok(()) => {}
        Err(sixgate_bpf::BpfError::Unsupported(why)) if !is_root() => {
            eprintln!("skipped: loading BPF programs needs root (CAP_BPF): {why}");
        }
        Err(e) => panic!("{e}"),
    }
}

#[cfg(not(all(feature = "programs", target_os = "linux")))]
#[test]
fn without_the_programs_feature_the_probe_says_not_built() {
    assert!(matches!(sixgate_bpf::probe(), Err(sixgate_bpf::BpfError::NotBuilt)));
}

#[cfg(all(feature = "programs", target_os = "linux"))]
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}
