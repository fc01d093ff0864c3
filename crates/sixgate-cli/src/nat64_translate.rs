//! `sixgate nat64 translate`: the stateless translator (RFC 7915) run over a capture file
//! (pcap or pcapng in, raw-IP pcap out) or over one packet on standard input.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{drive, Engine, Origin, Reason, Side, Verdict};
use sixgate_nat64::Siit;

use crate::daemon::log;
use crate::nat64::TranslateArgs;
use crate::nat64_config::FileConfig;
use crate::CliError;

pub(crate) fn translate(mut a: TranslateArgs) -> Result<ExitCode, CliError> {
    if let Some(path) = &a.config {
        FileConfig::load(path)?.merge_into(&mut a.engine)?;
    }
    let cfg = a.engine.to_config()?;
    let mut siit = Siit::new(cfg).map_err(CliError::input)?;
    match (&a.input, &a.output) {
        (Some(i), Some(o)) => translate_pcap(&mut siit, i, o, a.replies.as_deref(), a.explain),
        _ => translate_stdin(&mut siit, a.hex),
    }
}

/// One packet from standard input; results on standard output.
fn translate_stdin(siit: &mut Siit, hex: bool) -> Result<ExitCode, CliError> {
    let mut raw = Vec::new();
    std::io::stdin().read_to_end(&mut raw)?;
    let pkt = if hex { parse_hex(&raw)? } else { raw };
    if pkt.is_empty() {
        return Err(CliError::input("no packet on standard input"));
    }
    let mut buf = PacketBuf::from_slice(&pkt);
    let mut out = std::io::stdout().lock();
    // The packet (or the reply) and every further fragment, in order.
    let mut n = 0;
    let verdict = drive(siit, &mut buf, Instant::now(), |_, _, b| -> std::io::Result<()> {
        n += 1;
        if hex {
            let s: String = b.iter().map(|x| format!("{x:02x}")).collect();
            writeln!(out, "{s}")
        } else {
            out.write_all(b)
        }
    })?;
    match verdict {
        Verdict::Drop(r) => {
            log!("dropped: {}", explain_reason(r));
            Ok(ExitCode::from(1))
        }
        Verdict::Forward(side) => {
            if n > 1 {
                log!("forwarded to the {} side as {n} fragments", side_name(side));
            }
            Ok(ExitCode::SUCCESS)
        }
        Verdict::Reply(_) => {
            let why = siit.counters().nonzero_answered().map(|(r, _)| r.name()).next().unwrap_or("reply");
            log!("replied with an ICMP message ({why})");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn parse_hex(raw: &[u8]) -> Result<Vec<u8>, CliError> {
    let digits: Vec<u8> = raw.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(CliError::input("hex input has an odd number of digits"));
    }
    digits
        .chunks(2)
        .map(|p| {
            std::str::from_utf8(p).ok().and_then(|s| u8::from_str_radix(s, 16).ok()).ok_or_else(|| {
                CliError::input(format!("hex input: {:?} is not a hex byte", String::from_utf8_lossy(p)))
            })
        })
        .collect()
}

fn side_name(s: Side) -> &'static str {
    match s {
        Side::V4 => "IPv4",
        Side::V6 => "IPv6",
    }
}

/// Strips the link layer: the IP packet inside a frame, or `None` for non-IP frames.
fn ip_payload(link: DataLink, frame: &[u8]) -> Option<&[u8]> {
    fn ip_by_ethertype(et: u16, rest: &[u8]) -> Option<&[u8]> {
        matches!(et, 0x0800 | 0x86dd).then_some(rest)
    }
    match link {
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => Some(frame),
        DataLink::ETHERNET => {
            let mut off = 12;
            loop {
                let et = u16::from_be_bytes([*frame.get(off)?, *frame.get(off + 1)?]);
                if et == 0x8100 || et == 0x88a8 {
                    off += 4;
                    continue;
                }
                return ip_by_ethertype(et, frame.get(off + 2..)?);
            }
        }
        DataLink::LINUX_SLL => {
            ip_by_ethertype(u16::from_be_bytes([*frame.get(14)?, *frame.get(15)?]), frame.get(16..)?)
        }
        DataLink::LINUX_SLL2 => {
            ip_by_ethertype(u16::from_be_bytes([*frame.first()?, *frame.get(1)?]), frame.get(20..)?)
        }
        DataLink::NULL | DataLink::LOOP => {
            let v = frame.get(4..)?;
            matches!(v.first()? >> 4, 4 | 6).then_some(v)
        }
        _ => None,
    }
}

/// Reads frames of a pcap or pcapng file: (timestamp, link type, frame).
struct Frames {
    inner: FramesInner,
    /// Link types of the pcapng interfaces seen so far, by interface id.
    links: Vec<DataLink>,
    /// The file, for messages.
    name: String,
    /// Frames returned so far.
    count: u64,
}

enum FramesInner {
    Pcap(PcapReader<BufReader<File>>),
    PcapNg(Box<PcapNgReader<BufReader<File>>>),
}

impl Frames {
    fn open(path: &Path) -> Result<Self, CliError> {
        let bad = |e: &dyn std::fmt::Display| CliError::input(format!("{}: {e}", path.display()));
        let mut f = File::open(path).map_err(|e| bad(&e))?;
        let mut magic = [0u8; 4];
        f.read_exact(&mut magic).map_err(|_| bad(&"too short to be a capture file"))?;
        drop(f);
        let r = BufReader::with_capacity(1 << 16, File::open(path).map_err(|e| bad(&e))?);
        let inner = if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
            FramesInner::PcapNg(Box::new(PcapNgReader::new(r).map_err(|e| bad(&e))?))
        } else {
            FramesInner::Pcap(PcapReader::new(r).map_err(|e| bad(&format!("not a pcap or pcapng file ({e})")))?)
        };
        Ok(Self { inner, links: Vec::new(), name: path.display().to_string(), count: 0 })
    }

    /// The next frame, copied into `into`; `Ok(None)` at the end. An error names the file
    /// and the frame that could not be read.
    fn next(&mut self, into: &mut Vec<u8>) -> Result<Option<(Duration, DataLink)>, String> {
        let r = self.read(into);
        match r {
            Ok(Some(_)) => self.count += 1,
            Err(ref e) => return Err(format!("{}: frame {}: cannot be read ({e})", self.name, self.count + 1)),
            Ok(None) => {}
        }
        r.map_err(|e| e.to_string())
    }

    fn read(&mut self, into: &mut Vec<u8>) -> Result<Option<(Duration, DataLink)>, pcap_file::PcapError> {
        match &mut self.inner {
            FramesInner::Pcap(r) => {
                let link = r.header().datalink;
                match r.next_packet() {
                    None => Ok(None),
                    Some(Err(e)) => Err(e),
                    Some(Ok(p)) => {
                        into.clear();
                        into.extend_from_slice(&p.data);
                        Ok(Some((p.timestamp, link)))
                    }
                }
            }
            FramesInner::PcapNg(r) => loop {
                match r.next_block() {
                    None => return Ok(None),
                    Some(Err(e)) => return Err(e),
                    Some(Ok(Block::InterfaceDescription(i))) => self.links.push(i.linktype),
                    Some(Ok(Block::SectionHeader(_))) => self.links.clear(),
                    Some(Ok(Block::EnhancedPacket(p))) => {
                        let link = self.links.get(p.interface_id as usize).copied().unwrap_or(DataLink::RAW);
                        into.clear();
                        into.extend_from_slice(&p.data);
                        return Ok(Some((p.timestamp, link)));
                    }
                    Some(Ok(Block::SimplePacket(p))) => {
                        let link = self.links.first().copied().unwrap_or(DataLink::RAW);
                        into.clear();
                        into.extend_from_slice(&p.data);
                        return Ok(Some((Duration::ZERO, link)));
                    }
                    Some(Ok(_)) => continue,
                }
            },
        }
    }
}

/// Whether two paths name the same file (hard links and symbolic links included): the
/// same device and inode.
fn same_file(a: &Path, b: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let (x, y) = (std::fs::metadata(a).ok()?, std::fs::metadata(b).ok()?);
    (x.dev() == y.dev() && x.ino() == y.ino()).then(|| format!("device {}, inode {}", x.dev(), x.ino()))
}

/// A raw-IP pcap written to a temporary file beside its path and renamed over it only when
/// complete, so the path never holds a half-written capture (a failed run leaves whatever
/// was there before).
struct AtomicPcap {
    path: PathBuf,
    tmp: PathBuf,
    w: Option<PcapWriter<BufWriter<File>>>,
}

impl AtomicPcap {
    fn create(path: &Path) -> Result<Self, CliError> {
        let fail = |e: &dyn std::fmt::Display| CliError::failure(format!("cannot create {}: {e}", path.display()));
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let base = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut k = 0u32;
        let (tmp, f) = loop {
            let tmp = dir.join(format!(".{base}.{}.{k}.tmp", std::process::id()));
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(f) => break (tmp, f),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && k < 100 => k += 1,
                Err(e) => return Err(fail(&e)),
            }
        };
        let header = PcapHeader { datalink: DataLink::RAW, snaplen: 65535 + 40, ..PcapHeader::default() };
        let mut out = Self { path: path.to_owned(), tmp, w: None };
        out.w = Some(PcapWriter::with_header(BufWriter::new(f), header).map_err(|e| fail(&e))?);
        Ok(out)
    }

    fn write(&mut self, ts: Duration, b: &[u8]) -> Result<(), CliError> {
        let w = self.w.as_mut().ok_or_else(|| CliError::failure("output already closed"))?;
        w.write_packet(&PcapPacket::new(ts, b.len() as u32, b))
            .map(drop)
            .map_err(|e| CliError::failure(format!("cannot write {}: {e}", self.path.display())))
    }

    /// Flushes the temporary file to disk and renames it over the path.
    fn commit(mut self) -> Result<(), CliError> {
        let fail = |e: std::io::Error| CliError::failure(format!("cannot write {}: {e}", self.path.display()));
        if let Some(w) = self.w.take() {
            let f = w.into_writer().into_inner().map_err(|e| fail(e.into_error()))?;
            f.sync_all().map_err(fail)?;
        }
        std::fs::rename(&self.tmp, &self.path).map_err(fail)
    }
}

impl Drop for AtomicPcap {
    fn drop(&mut self) {
        // Not committed: the temporary file goes, the path keeps what it had.
        if self.w.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// A drop reason with the RFC section behind it, for messages.
fn explain_reason(r: sixgate_nat64::SiitDrop) -> String {
    match r.rfc() {
        Some(rfc) => format!("{} ({rfc})", r.name()),
        None => format!("{} (local policy or a limit of the translator, no RFC rule)", r.name()),
    }
}

/// The reason a reply was counted under: the one whose answered count moved since `before`
/// (`None` for a reply that refuses nothing, an echo reply).
fn counted_reason(
    before: &sixgate_core::engine::Counters<sixgate_nat64::SiitDrop>,
    after: &sixgate_core::engine::Counters<sixgate_nat64::SiitDrop>,
) -> Option<sixgate_nat64::SiitDrop> {
    sixgate_nat64::SiitDrop::ALL.iter().copied().find(|r| after.answered(*r) > before.answered(*r))
}

fn translate_pcap(
    siit: &mut Siit,
    input: &Path,
    output: &Path,
    replies: Option<&Path>,
    explain: bool,
) -> Result<ExitCode, CliError> {
    // Writing the input would destroy it before it is read (and renaming over it after).
    for (flag, p) in [("--out", Some(output)), ("--replies", replies)] {
        let Some(p) = p else { continue };
        if let Some(id) = same_file(input, p) {
            return Err(CliError::input(format!(
                "{flag} {} is the input capture --in {} ({id}): writing it would destroy the capture being \
                 read; give another output file",
                p.display(),
                input.display()
            )));
        }
    }
    if let Some(r) = replies {
        if r == output || same_file(output, r).is_some() {
            return Err(CliError::input(format!(
                "--replies {} is the --out file: give another file, or leave --replies out to have the replies \
                 in {}",
                r.display(),
                output.display()
            )));
        }
    }
    let mut frames = Frames::open(input)?;
    let mut out = AtomicPcap::create(output)?;
    let mut rep = replies.map(AtomicPcap::create).transpose()?;
    let base = Instant::now();
    let mut first_ts: Option<Duration> = None;
    let mut frame = Vec::with_capacity(65536);
    let mut buf = PacketBuf::new();
    let (mut read, mut non_ip, mut to4, mut to6, mut replied, mut dropped) = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut broken = None;
    let mut stdout = std::io::stdout().lock();
    loop {
        let (ts, link) = match frames.next(&mut frame) {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                broken = Some(e);
                break;
            }
        };
        read += 1;
        if ip_payload(link, &frame).is_none_or(|ip| buf.set(ip).is_err()) {
            non_ip += 1;
            if explain {
                writeln!(stdout, "frame {read}: not an IP packet (link type {link:?}): skipped")?;
            }
            continue;
        }
        // Capture time drives the engine's clock (ICMP rate limiting), so runs repeat.
        let t0 = *first_ts.get_or_insert(ts);
        let now = base + ts.saturating_sub(t0);
        let before = explain.then(|| siit.counters().clone());
        // The packet and every further fragment to the output; a reply to the replies file
        // when there is one.
        let mut sent = 0u32;
        let verdict = drive(siit, &mut buf, now, |side, origin, b| {
            sent += 1;
            let w = match origin {
                Origin::Replied => {
                    replied += 1;
                    rep.as_mut().unwrap_or(&mut out)
                }
                Origin::Forwarded | Origin::Queued => {
                    match side {
                        Side::V4 => to4 += 1,
                        Side::V6 => to6 += 1,
                    }
                    &mut out
                }
            };
            w.write(ts, b)
        })?;
        if matches!(verdict, Verdict::Drop(_)) {
            dropped += 1;
        }
        if let Some(before) = before {
            let line = match verdict {
                Verdict::Forward(side) if sent > 1 => {
                    format!("translated to {} as {sent} fragments", side_name(side))
                }
                Verdict::Forward(side) => format!("translated to {}", side_name(side)),
                Verdict::Reply(_) => match counted_reason(&before, siit.counters()) {
                    Some(r) => format!("not forwarded, answered with an ICMP error: {}", explain_reason(r)),
                    None => "answered (echo reply from the translator)".to_owned(),
                },
                Verdict::Drop(r) => format!("dropped: {}", explain_reason(r)),
            };
            writeln!(stdout, "frame {read}: {line}")?;
        }
    }
    out.commit()?;
    if let Some(r) = rep {
        r.commit()?;
    }
    let c = siit.counters();
    writeln!(
        stdout,
        "read {read} frames ({non_ip} not IP); forwarded {} packets ({to6} to IPv6, {to4} to IPv4); \
         {replied} ICMP replies; {dropped} dropped",
        to4 + to6
    )?;
    if c.dropped_total() > 0 {
        writeln!(stdout, "dropped, by reason:")?;
    }
    for (r, n) in c.nonzero() {
        writeln!(stdout, "  {:<28} {n}", r.name())?;
    }
    if c.answered_total() > 0 {
        writeln!(stdout, "answered with an ICMP error, by reason:")?;
    }
    for (r, n) in c.nonzero_answered() {
        writeln!(stdout, "  {:<28} {n}", r.name())?;
    }
    if siit.icmp_suppressed() > 0 {
        writeln!(stdout, "  ({} ICMP errors not sent: rate limit or not allowed)", siit.icmp_suppressed())?;
    }
    stdout.flush()?;
    match broken {
        Some(e) => Err(CliError::input(format!(
            "{e}: the capture is truncated or corrupt there; the {read} frames before it were translated and \
             {} written",
            output.display()
        ))),
        None => Ok(ExitCode::SUCCESS),
    }
}
