//! Test driver for tests/vm/cases/xfrm-*.sh: installs, inspects and removes XFRM state through
//! rswan-xfrm only, inside whatever network namespace it is started in (`ip netns exec`).
//!
//!   xfrm-vmtest install --profile gcm|cbc|chacha|udp --side west|east [--ipv6] [--local IP] [--remote IP]
//!                       [--inbound-peer-port N]   (udp: peer source port the inbound SA expects)
//!   xfrm-vmtest counters --side west|east [--ipv6] [--local IP] [--remote IP] [--require-nonzero]
//!   xfrm-vmtest count                      prints "sas=N policies=M" (all entries in the netns)
//!   xfrm-vmtest flush                      flush_owned, prints what it removed
//!   xfrm-vmtest encap-socket [--port 4500] holds a UDP socket with UDP_ENCAP_ESPINUDP until killed
//!   xfrm-vmtest monitor --until mapping|acquire|expire [--timeout SECS]
//!                                          prints kernel events until one of that kind arrives
//!   xfrm-vmtest bench --tunnels N --work DIR [--hthresh BITS (24; 0 = kernel default)]
//!
//! Keys are fixed test values: this program exists only to exercise the kernel in a throw-away VM.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::os::fd::AsFd;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use rswan_xfrm::{
    ownership, sockets, Action, AeadAlg, AuthAlg, Crypto, Direction, EncAlg, Family, Kernel,
    KernelEvent, KernelOp, Key, Lifetimes, Mode, Monitor, NetlinkKernel, Policy, Prefix, Sa, SaId,
    Selector, SpiRequest, Template, UdpEncap,
};

const SPI_WEST_TO_EAST: u32 = 0x1000;
const SPI_EAST_TO_WEST: u32 = 0x2000;
const ENCAP_PORT: u16 = 4500;
const PRIORITY: u32 = 1000;

fn usage() -> ExitCode {
    eprintln!(
        "usage: xfrm-vmtest install|counters|count|flush|encap-socket|bench [options] (see source header)"
    );
    ExitCode::from(2)
}

struct Args(Vec<String>);

impl Args {
    fn opt(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.0.get(i + 1))
            .map(String::as_str)
    }
    fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
}

fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| format!("not an IP address: {s}"))
}

/// Addresses of one side of the west/east topology of tests/vm/lib.sh.
struct Side {
    west: bool,
    local: IpAddr,
    remote: IpAddr,
    local_lan: Prefix,
    remote_lan: Prefix,
}

fn side(args: &Args) -> Result<Side, String> {
    let (west_lan, east_lan, west_ip, east_ip) = if args.flag("--ipv6") {
        let v6 = |s: &str| s.parse::<IpAddr>().map_err(|e| e.to_string());
        (
            Prefix::new(v6("fd00:1::")?, 64),
            Prefix::new(v6("fd00:2::")?, 64),
            v6("2001:db8::1")?,
            v6("2001:db8::2")?,
        )
    } else {
        (
            Prefix::new(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 0)), 24),
            Prefix::new(IpAddr::V4(Ipv4Addr::new(10, 2, 0, 0)), 24),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        )
    };
    let mut s = match args.opt("--side") {
        Some("west") => Side {
            west: true,
            local: west_ip,
            remote: east_ip,
            local_lan: west_lan,
            remote_lan: east_lan,
        },
        Some("east") => Side {
            west: false,
            local: east_ip,
            remote: west_ip,
            local_lan: east_lan,
            remote_lan: west_lan,
        },
        _ => return Err("--side west|east is required".into()),
    };
    if let Some(l) = args.opt("--local") {
        s.local = parse_ip(l)?;
    }
    if let Some(r) = args.opt("--remote") {
        s.remote = parse_ip(r)?;
    }
    Ok(s)
}

fn test_key(seed: u8, len: usize) -> Key {
    Key::new((0..len).map(|i| seed.wrapping_add(i as u8)).collect())
}

fn crypto(profile: &str, seed: u8) -> Result<Crypto, String> {
    Ok(match profile {
        "gcm" | "udp" => Crypto::Aead {
            alg: AeadAlg::AesGcm,
            key: test_key(seed, 36),
            icv_bits: 128,
        },
        "chacha" => Crypto::Aead {
            alg: AeadAlg::ChaCha20Poly1305,
            key: test_key(seed, 36),
            icv_bits: 128,
        },
        "cbc" => Crypto::EncAuth {
            enc: EncAlg::AesCbc,
            enc_key: test_key(seed, 32),
            auth: AuthAlg::HmacSha256,
            auth_key: test_key(seed.wrapping_add(0x80), 32),
        },
        other => return Err(format!("unknown profile {other} (gcm, cbc, chacha, udp)")),
    })
}

/// (outbound SA id, inbound SA id) of a side.
fn sa_ids(s: &Side) -> (SaId, SaId) {
    let (out_spi, in_spi) = if s.west {
        (SPI_WEST_TO_EAST, SPI_EAST_TO_WEST)
    } else {
        (SPI_EAST_TO_WEST, SPI_WEST_TO_EAST)
    };
    (
        SaId {
            dst: s.remote,
            spi: out_spi,
            mark: None,
        },
        SaId {
            dst: s.local,
            spi: in_spi,
            mark: None,
        },
    )
}

#[allow(clippy::too_many_arguments)]
fn tunnel_ops(
    local: IpAddr,
    remote: IpAddr,
    local_lan: Prefix,
    remote_lan: Prefix,
    out_spi: u32,
    in_spi: u32,
    reqid: u32,
    out_crypto: Crypto,
    in_crypto: Crypto,
    encap: Option<u16>,
) -> Vec<KernelOp> {
    // `encap` is the peer's UDP source port as this side believes it (normally 4500).
    let sa = |src, dst, spi, crypto, window, peer_port: Option<u16>, inbound: bool| Sa {
        src,
        dst,
        spi,
        reqid,
        mode: Mode::Tunnel,
        crypto,
        replay_window: window,
        esn: false,
        encap: peer_port.map(|p| UdpEncap {
            src_port: if inbound { p } else { ENCAP_PORT },
            dst_port: if inbound { ENCAP_PORT } else { p },
            original_address: None,
        }),
        lifetimes: Lifetimes::default(),
        if_id: None,
        mark: None,
        selector: None,
        acquire_seq: None,
    };
    let policy = |sel, direction, src, dst| Policy {
        selector: sel,
        direction,
        priority: PRIORITY,
        action: Action::Allow,
        templates: vec![Template {
            mode: Mode::Tunnel,
            endpoints: Some((src, dst)),
            reqid,
            optional: false,
        }],
        if_id: None,
        mark: None,
    };
    let out_sel = Selector::between(local_lan, remote_lan);
    let in_sel = Selector::between(remote_lan, local_lan);
    vec![
        KernelOp::AddSa(sa(
            local,
            remote,
            out_spi,
            out_crypto,
            0,
            encap.map(|_| ENCAP_PORT),
            false,
        )),
        KernelOp::AddSa(sa(remote, local, in_spi, in_crypto, 32, encap, true)),
        KernelOp::AddPolicy(policy(out_sel, Direction::Out, local, remote)),
        KernelOp::AddPolicy(policy(in_sel, Direction::In, remote, local)),
        KernelOp::AddPolicy(policy(in_sel, Direction::Fwd, remote, local)),
    ]
}

fn describe(op: &KernelOp) -> String {
    match op {
        KernelOp::AddSa(sa) | KernelOp::UpdateSa(sa) => {
            format!("SA {} -> {} spi 0x{:08x}", sa.src, sa.dst, sa.spi)
        }
        KernelOp::DeleteSa(id) => format!("SA {} spi 0x{:08x}", id.dst, id.spi),
        KernelOp::AddPolicy(p) | KernelOp::UpdatePolicy(p) => format!(
            "policy {} -> {} {:?}",
            p.selector.src, p.selector.dst, p.direction
        ),
        KernelOp::DeletePolicy(id) => format!(
            "policy {} -> {} {:?}",
            id.selector.src, id.selector.dst, id.direction
        ),
    }
}

fn apply_all(k: &mut NetlinkKernel, ops: &[KernelOp]) -> Result<(), String> {
    let results = k.apply(ops);
    let failures: Vec<String> = results
        .iter()
        .zip(ops)
        .filter_map(|(r, op)| r.as_ref().err().map(|e| format!("{}: {e}", describe(op))))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        let n = failures.len();
        let first: Vec<_> = failures.into_iter().take(3).collect();
        Err(format!(
            "{n} of {} operations failed, first: {}",
            ops.len(),
            first.join("; ")
        ))
    }
}

fn install(args: &Args) -> Result<(), String> {
    let s = side(args)?;
    let profile = args.opt("--profile").ok_or("--profile is required")?;
    // Each direction has its own key; both sides derive the same pair.
    let (out_seed, in_seed) = if s.west { (0x11, 0x22) } else { (0x22, 0x11) };
    let (out_id, in_id) = sa_ids(&s);
    let ops = tunnel_ops(
        s.local,
        s.remote,
        s.local_lan,
        s.remote_lan,
        out_id.spi,
        in_id.spi,
        ownership::reqid(1),
        crypto(profile, out_seed)?,
        crypto(profile, in_seed)?,
        if profile == "udp" {
            // A wrong peer port here makes the kernel report a NAT mapping change (MAPPING)
            // when the first packet arrives from the real port.
            Some(match args.opt("--inbound-peer-port") {
                Some(p) => p.parse().map_err(|_| "bad --inbound-peer-port")?,
                None => ENCAP_PORT,
            })
        } else {
            None
        },
    );
    let mut k = NetlinkKernel::open().map_err(|e| e.to_string())?;
    // The inbound SA goes the way the daemon installs it: reserve the SPI (a range of one, so
    // both sides agree without IKE), then fill the larval SA with update_sa.
    let spi = k
        .alloc_spi(&SpiRequest {
            src: s.remote,
            dst: s.local,
            reqid: ownership::reqid(1),
            mode: Mode::Tunnel,
            mark: None,
            if_id: None,
            range: Some((in_id.spi, in_id.spi)),
        })
        .map_err(|e| format!("alloc_spi: {e}"))?;
    if spi != in_id.spi {
        return Err(format!(
            "alloc_spi returned 0x{spi:x}, asked for 0x{:x}",
            in_id.spi
        ));
    }
    let ops: Vec<KernelOp> = ops
        .into_iter()
        .map(|op| match op {
            KernelOp::AddSa(sa) if sa.spi == spi && sa.dst == s.local => KernelOp::UpdateSa(sa),
            other => other,
        })
        .collect();
    apply_all(&mut k, &ops)?;
    println!("installed profile {profile}: 2 SAs (inbound via alloc_spi + update_sa), 3 policies");
    Ok(())
}

fn counters(args: &Args) -> Result<(), String> {
    let s = side(args)?;
    let (out_id, in_id) = sa_ids(&s);
    let mut k = NetlinkKernel::open().map_err(|e| e.to_string())?;
    let states = k.list_sas().map_err(|e| e.to_string())?;
    let mut zero = Vec::new();
    for (dir, id) in [("out", out_id), ("in", in_id)] {
        let c = k.get_sa_counters(&id).map_err(|e| e.to_string())?;
        let encap = states
            .iter()
            .find(|st| st.spi == id.spi && st.dst == id.dst)
            .and_then(|st| st.encap)
            .map(|e| format!(" encap=espinudp:{}->{}", e.src_port, e.dst_port))
            .unwrap_or_default();
        println!(
            "{dir} spi=0x{:08x} bytes={} packets={} first_use={} last_used={}{encap}",
            id.spi,
            c.bytes,
            c.packets,
            c.first_use_time,
            c.last_used
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into())
        );
        if c.bytes == 0 || c.packets == 0 {
            zero.push(dir);
        }
    }
    // Policies record their last use on every lookup: the idle signal for on-demand DPD.
    for p in k.list_policies().map_err(|e| e.to_string())? {
        println!(
            "policy {:?} {} -> {} last_used={}",
            p.policy.direction,
            p.policy.selector.src,
            p.policy.selector.dst,
            p.last_used
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into())
        );
    }
    if args.flag("--require-nonzero") && !zero.is_empty() {
        return Err(format!("SAs without traffic: {}", zero.join(", ")));
    }
    Ok(())
}

fn count() -> Result<(), String> {
    let mut k = NetlinkKernel::open().map_err(|e| e.to_string())?;
    let sas = k.list_sas().map_err(|e| e.to_string())?.len();
    let policies = k.list_policies().map_err(|e| e.to_string())?.len();
    println!("sas={sas} policies={policies}");
    Ok(())
}

fn flush() -> Result<(), String> {
    let mut k = NetlinkKernel::open().map_err(|e| e.to_string())?;
    let r = k.flush_owned().map_err(|e| e.to_string())?;
    println!("flushed sas={} policies={}", r.sas, r.policies);
    Ok(())
}

fn encap_socket(args: &Args) -> Result<(), String> {
    let port: u16 = args
        .opt("--port")
        .unwrap_or("4500")
        .parse()
        .map_err(|_| "bad --port")?;
    let sock = UdpSocket::bind(("0.0.0.0", port)).map_err(|e| format!("bind {port}: {e}"))?;
    sockets::set_udp_encap_espinudp(sock.as_fd()).map_err(|e| format!("UDP_ENCAP: {e}"))?;
    sockets::set_ike_bypass(sock.as_fd(), Family::V4).map_err(|e| format!("bypass: {e}"))?;
    println!("encap socket ready on {port}");
    // Anything that reaches userspace here is non-ESP (IKE would be); drain it until killed.
    let mut buf = [0u8; 2048];
    loop {
        let _ = sock.recv_from(&mut buf);
    }
}

fn monitor(args: &Args) -> Result<(), String> {
    let until = args
        .opt("--until")
        .ok_or("--until mapping|acquire|expire is required")?;
    let secs: u64 = args
        .opt("--timeout")
        .unwrap_or("30")
        .parse()
        .map_err(|_| "bad --timeout")?;
    let mut mon = Monitor::open().map_err(|e| e.to_string())?;
    mon.set_non_blocking(true).map_err(|e| e.to_string())?;
    println!("monitor ready");
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        let event = match mon.try_next_event().map_err(|e| e.to_string())? {
            Some(e) => e,
            None => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let (kind, line) = match &event {
            KernelEvent::Mapping {
                id,
                reqid,
                old,
                new,
            } => (
                "mapping",
                format!(
                    "mapping spi=0x{:08x} dst={} reqid={reqid} old={old} new={new}",
                    id.spi, id.dst
                ),
            ),
            KernelEvent::Acquire {
                src, dst, reqid, ..
            } => (
                "acquire",
                format!("acquire src={src} dst={dst} reqid={reqid:?}"),
            ),
            KernelEvent::Expire { id, hard, .. } => (
                "expire",
                format!("expire spi=0x{:08x} dst={} hard={hard}", id.spi, id.dst),
            ),
            other => ("other", format!("{other:?}")),
        };
        println!("{line}");
        if kind == until {
            return Ok(());
        }
    }
    Err(format!("no {until} event within {secs}s"))
}

/// Tunnel `i` of the benchmark: /24 LANs and one peer address per tunnel.
fn bench_tunnel(i: u32) -> (IpAddr, IpAddr, Prefix, Prefix) {
    let (hi, lo) = ((i >> 8) as u8, (i & 0xff) as u8);
    (
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        IpAddr::V4(Ipv4Addr::new(198, 18, hi, lo)),
        Prefix::new(IpAddr::V4(Ipv4Addr::new(10, hi, lo, 0)), 24),
        Prefix::new(IpAddr::V4(Ipv4Addr::new(100, 64 + hi, lo, 0)), 24),
    )
}

fn bench_ops(n: u32) -> Vec<KernelOp> {
    let mut ops = Vec::with_capacity(n as usize * 5);
    for i in 0..n {
        let (local, remote, llan, rlan) = bench_tunnel(i);
        ops.extend(tunnel_ops(
            local,
            remote,
            llan,
            rlan,
            0x0100_0000 + i,
            0x0200_0000 + i,
            ownership::reqid(i as u16),
            crypto("gcm", (i % 251) as u8).unwrap_or_else(|_| unreachable!()),
            crypto("gcm", (i % 241) as u8).unwrap_or_else(|_| unreachable!()),
            None,
        ));
    }
    ops
}

fn hex(k: &Key) -> String {
    k.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// The same set as `bench_ops`, as an `ip -batch` file.
fn batch_file(ops: &[KernelOp]) -> String {
    let mut out = String::with_capacity(ops.len() * 200);
    for op in ops {
        match op {
            KernelOp::AddSa(sa) => {
                let Crypto::Aead { alg, key, icv_bits } = &sa.crypto else {
                    unreachable!("bench uses AEAD only")
                };
                out += &format!(
                    "xfrm state add src {} dst {} proto esp spi 0x{:08x} reqid {} mode tunnel replay-window {} aead {} 0x{} {}\n",
                    sa.src, sa.dst, sa.spi, sa.reqid, sa.replay_window, alg.kernel_name(), hex(key), icv_bits
                );
            }
            KernelOp::AddPolicy(p) => {
                let t = &p.templates[0];
                let (ts, td) = t.endpoints.unwrap_or_else(|| unreachable!());
                let dir = match p.direction {
                    Direction::In => "in",
                    Direction::Out => "out",
                    Direction::Fwd => "fwd",
                };
                out += &format!(
                    "xfrm policy add src {} dst {} dir {dir} priority {} tmpl src {ts} dst {td} proto esp reqid {} mode tunnel\n",
                    p.selector.src, p.selector.dst, p.priority, t.reqid
                );
            }
            _ => unreachable!("bench adds only"),
        }
    }
    out
}

fn expect_counts(
    k: &mut NetlinkKernel,
    sas: usize,
    policies: usize,
    when: &str,
) -> Result<(), String> {
    let have_sas = k.list_sas().map_err(|e| e.to_string())?.len();
    let have_pol = k.list_policies().map_err(|e| e.to_string())?.len();
    if have_sas != sas || have_pol != policies {
        return Err(format!(
            "{when}: expected {sas} SAs and {policies} policies, found {have_sas} and {have_pol}"
        ));
    }
    Ok(())
}

fn bench(args: &Args) -> Result<(), String> {
    let n: u32 = args
        .opt("--tunnels")
        .unwrap_or("10000")
        .parse()
        .map_err(|_| "bad --tunnels")?;
    if n > u32::from(u16::MAX) {
        return Err("at most 65535 tunnels (one reqid each)".into());
    }
    let work = args.opt("--work").unwrap_or("/tmp");
    let (nsas, npol) = (2 * n as usize, 3 * n as usize);

    let hthresh: u8 = args
        .opt("--hthresh")
        .unwrap_or("24")
        .parse()
        .map_err(|_| "bad --hthresh")?;
    let t = Instant::now();
    // All SAs first, then all policies, for both contenders, so the two parts can be timed.
    let (mut ops, policies): (Vec<KernelOp>, Vec<KernelOp>) = bench_ops(n)
        .into_iter()
        .partition(|op| matches!(op, KernelOp::AddSa(_)));
    let nsa_ops = ops.len();
    ops.extend(policies);
    let path = format!("{work}/xfrm-bench.batch");
    std::fs::write(&path, batch_file(&ops)).map_err(|e| format!("{path}: {e}"))?;
    println!(
        "bench: generated {} operations and {path} in {:.2}s",
        ops.len(),
        t.elapsed().as_secs_f64()
    );

    let mut k = NetlinkKernel::open().map_err(|e| e.to_string())?;
    expect_counts(&mut k, 0, 0, "before start")?;
    if hthresh != 0 {
        // Hash /24 (and narrower) selectors exactly; both contenders run in this netns.
        k.set_policy_hash_thresholds((hthresh, hthresh), (128, 128))
            .map_err(|e| e.to_string())?;
        println!("bench: IPv4 policy hash thresholds set to {hthresh}/{hthresh}");
    } else {
        println!("bench: kernel default policy hash thresholds (32/32)");
    }

    // Warm-up with a few tunnels (not compared): loads the crypto modules. rswan-xfrm then goes
    // first, so it also pays for growing the kernel's hash tables, which favours iproute2.
    let t = Instant::now();
    let warm = bench_ops(100);
    apply_all(&mut k, &warm)?;
    k.flush_owned().map_err(|e| e.to_string())?;
    expect_counts(&mut k, 0, 0, "after warm-up")?;
    println!(
        "bench: warm-up (100 tunnels) took {:.2}s",
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let (sa_ops, policy_ops) = ops.split_at(nsa_ops);
    apply_all(&mut k, sa_ops)?;
    let sa_secs = t.elapsed().as_secs_f64();
    apply_all(&mut k, policy_ops)?;
    let rswan_secs = t.elapsed().as_secs_f64();
    println!(
        "bench: rswan-xfrm apply done in {rswan_secs:.2}s ({sa_secs:.2}s SAs, {:.2}s policies)",
        rswan_secs - sa_secs
    );
    expect_counts(&mut k, nsas, npol, "after rswan-xfrm install")?;

    let t = Instant::now();
    let r = k.flush_owned().map_err(|e| e.to_string())?;
    let flush_secs = t.elapsed().as_secs_f64();
    println!("bench: rswan-xfrm flush_owned done in {flush_secs:.2}s");
    expect_counts(&mut k, 0, 0, "after rswan-xfrm flush")?;

    let t = Instant::now();
    let status = Command::new("ip")
        .args(["-batch", &path])
        .status()
        .map_err(|e| format!("ip -batch: {e}"))?;
    let ip_secs = t.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("ip -batch {path} failed: {status}"));
    }
    println!("bench: ip -batch done in {ip_secs:.2}s");
    expect_counts(&mut k, nsas, npol, "after ip -batch")?;
    // ip installed the same reqids, so flush_owned removes its entries too.
    k.flush_owned().map_err(|e| e.to_string())?;
    expect_counts(&mut k, 0, 0, "after flushing ip's set")?;

    println!("bench: {n} tunnels = {nsas} SAs + {npol} policies");
    println!("bench: {:<24} {:>8.2}s", "ip -batch", ip_secs);
    println!("bench: {:<24} {:>8.2}s", "rswan-xfrm apply", rswan_secs);
    println!(
        "bench: {:<24} {:>8.2}s ({} SAs, {} policies)",
        "rswan-xfrm flush_owned", flush_secs, r.sas, r.policies
    );
    println!("bench: ratio ip/rswan = {:.2}", ip_secs / rswan_secs);
    if rswan_secs > ip_secs {
        return Err(format!(
            "rswan-xfrm ({rswan_secs:.2}s) was slower than ip -batch ({ip_secs:.2}s)"
        ));
    }
    Ok(())
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = argv.first().cloned() else {
        return usage();
    };
    let args = Args(argv);
    let r = match cmd.as_str() {
        "install" => install(&args),
        "counters" => counters(&args),
        "count" => count(),
        "flush" => flush(),
        "encap-socket" => encap_socket(&args),
        "bench" => bench(&args),
        "monitor" => monitor(&args),
        _ => return usage(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xfrm-vmtest {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}
