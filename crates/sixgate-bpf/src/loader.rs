//! Loading, attaching and test-running the compiled programs, with aya.

use aya::maps::{Array, PerCpuArray};
use aya::programs::{tc, SchedClassifier, TcAttachType, TestRun, TestRunOptions};
use aya::{Ebpf, EbpfLoader};

use crate::{BpfError, Direction, FastPathCounters, TestOutcome};

/// The compiled probe program.
static PROBE: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/probe.bpf.o"));

/// Loads one compiled object (its maps are created, its programs not yet loaded).
pub fn load_object(name: &str, object: &[u8]) -> Result<Ebpf, BpfError> {
    EbpfLoader::new().load(object).map_err(|e| BpfError::Load { program: name.to_string(), detail: e.to_string() })
}

/// Loads the TC program `program` of `ebpf` through the verifier, if not loaded yet, and
/// returns it.
pub(crate) fn classifier<'a>(ebpf: &'a mut Ebpf, program: &str) -> Result<&'a mut SchedClassifier, BpfError> {
    let load_err = |detail: String| BpfError::Load { program: program.to_string(), detail };
    let prog: &mut SchedClassifier = ebpf
        .program_mut(program)
        .ok_or_else(|| load_err("no such program in the object".to_string()))?
        .try_into()
        .map_err(|e: aya::programs::ProgramError| load_err(e.to_string()))?;
    if prog.fd().is_err() {
        prog.load().map_err(|e| load_err(verifier_detail(&e)))?;
    }
    Ok(prog)
}

/// The error with the verifier's log, when the verifier refused.
fn verifier_detail(e: &aya::programs::ProgramError) -> String {
    match e {
        aya::programs::ProgramError::LoadError { io_error, verifier_log } => {
            format!("{io_error}; verifier log:\n{verifier_log}")
        }
        other => other.to_string(),
    }
}

/// Attaches the (loaded) TC program `program` of `ebpf` to `iface`'s `clsact` hook, adding
/// the `clsact` qdisc when the interface has none. The attachment lasts as long as `ebpf`.
pub fn attach_tc(ebpf: &mut Ebpf, program: &str, iface: &str, direction: Direction) -> Result<(), BpfError> {
    let attach_err = |detail: String| BpfError::Attach { iface: iface.to_string(), detail };
    // Kernels from 6.6 attach through tcx and need no qdisc; older ones need clsact, which
    // an interface may have already (EEXIST). Either way, only a failed attach is an error,
    // reported with the qdisc's answer.
    let qdisc = tc::qdisc_add_clsact(iface).err();
    let prog = classifier(ebpf, program)?;
    let hook = match direction {
        Direction::Ingress => TcAttachType::Ingress,
        Direction::Egress => TcAttachType::Egress,
    };
    prog.attach(iface, hook).map(|_| ()).map_err(|e| match qdisc {
        Some(q) => attach_err(format!("{e} (adding the clsact qdisc: {q})")),
        None => attach_err(e.to_string()),
    })
}

/// Runs the (loaded) TC program `program` once over `frame` (an Ethernet frame) with
/// `BPF_PROG_TEST_RUN`, returning its action and the frame it left.
pub fn test_run(ebpf: &mut Ebpf, program: &str, frame: &[u8]) -> Result<TestOutcome, BpfError> {
    let prog = classifier(ebpf, program)?;
    // Room for growth: a translation to IPv6 adds 20 bytes, an encapsulation 20.
    let mut out = vec![0u8; frame.len() + 256];
    let mut opts = TestRunOptions::new();
    opts.data_in = Some(frame);
    opts.data_out = Some(&mut out);
    let res = prog
        .test_run(opts)
        .map_err(|e| BpfError::Load { program: program.to_string(), detail: format!("BPF_PROG_TEST_RUN: {e}") })?;
    out.truncate(res.data_size_out as usize);
    Ok(TestOutcome { action: res.return_value as i32, data: out })
}

/// Writes `value` at `index` of the `BPF_MAP_TYPE_ARRAY` map `map`, whose values are `N`
/// bytes (the programs declare their configuration as byte arrays laid out by the loader, so
/// no Rust type has to mirror a C struct).
pub(crate) fn set_array<const N: usize>(
    ebpf: &mut Ebpf,
    map: &str,
    index: u32,
    value: [u8; N],
) -> Result<(), BpfError> {
    let map_err = |detail: String| BpfError::Map { map: map.to_string(), detail };
    let mut array: Array<_, [u8; N]> =
        Array::try_from(ebpf.map_mut(map).ok_or_else(|| map_err("no such map in the object".to_string()))?)
            .map_err(|e| map_err(e.to_string()))?;
    array.set(index, value, 0).map_err(|e| map_err(e.to_string()))
}

/// Reads the `N`-byte value at `index` of the `BPF_MAP_TYPE_ARRAY` map `map`.
pub(crate) fn get_array<const N: usize>(ebpf: &Ebpf, map: &str, index: u32) -> Result<[u8; N], BpfError> {
    let map_err = |detail: String| BpfError::Map { map: map.to_string(), detail };
    let array: Array<_, [u8; N]> =
        Array::try_from(ebpf.map(map).ok_or_else(|| map_err("no such map in the object".to_string()))?)
            .map_err(|e| map_err(e.to_string()))?;
    array.get(&index, 0).map_err(|e| map_err(e.to_string()))
}

/// Writes one u32 per CPU (`values`, in CPU order) at `index` of the
/// `BPF_MAP_TYPE_PERCPU_ARRAY` map `map`.
pub(crate) fn set_percpu_u32(ebpf: &mut Ebpf, map: &str, index: u32, values: Vec<u32>) -> Result<(), BpfError> {
    let map_err = |detail: String| BpfError::Map { map: map.to_string(), detail };
    let mut array: PerCpuArray<_, u32> =
        PerCpuArray::try_from(ebpf.map_mut(map).ok_or_else(|| map_err("no such map in the object".to_string()))?)
            .map_err(|e| map_err(e.to_string()))?;
    let values = aya::maps::PerCpuValues::try_from(values).map_err(|e| map_err(e.to_string()))?;
    array.set(index, values, 0).map_err(|e| map_err(e.to_string()))
}

/// Reads the `BPF_MAP_TYPE_PERCPU_ARRAY` counter map `map` (u64 values): index 0 counts the
/// packets forwarded, index `i ≥ 1` the packets punted for `punt_reasons[i - 1]`; each
/// index summed over the CPUs.
pub(crate) fn read_counters(
    ebpf: &Ebpf,
    map: &str,
    punt_reasons: &[&'static str],
) -> Result<FastPathCounters, BpfError> {
    let map_err = |detail: String| BpfError::Map { map: map.to_string(), detail };
    let array: PerCpuArray<_, u64> =
        PerCpuArray::try_from(ebpf.map(map).ok_or_else(|| map_err("no such map in the object".to_string()))?)
            .map_err(|e| map_err(e.to_string()))?;
    let sum =
        |i: u32| -> Result<u64, BpfError> { Ok(array.get(&i, 0).map_err(|e| map_err(e.to_string()))?.iter().sum()) };
    let mut counters = FastPathCounters { forwarded: sum(0)?, punted: Vec::with_capacity(punt_reasons.len()) };
    for (i, reason) in punt_reasons.iter().enumerate() {
        counters.punted.push((reason, sum(i as u32 + 1)?));
    }
    Ok(counters)
}

/// See [`crate::probe`].
pub(crate) fn probe() -> Result<(), BpfError> {
    let unsupported = |e: BpfError| BpfError::Unsupported(e.to_string());
    let mut ebpf = load_object("sixgate_probe", PROBE).map_err(unsupported)?;
    // An Ethernet header and a minimal IPv4 header.
    let mut frame = [0u8; 34];
    frame[12] = 0x08;
    frame[14] = 0x45;
    let out = test_run(&mut ebpf, "sixgate_probe", &frame).map_err(unsupported)?;
    if out.action != crate::TC_ACT_OK {
        return Err(BpfError::Unsupported(format!("the probe program answered {} instead of TC_ACT_OK", out.action)));
    }
    Ok(())
}
