//! Tests against this machine's own kernel (XFRM netlink, possibly without ESP), each in a
//! throw-away network namespace: the test re-runs itself under `unshare -n`, so nothing it
//! installs can touch the host's IPsec state. Skipped with a message when not root.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use rswan_xfrm::{
    ownership, Action, AeadAlg, Crypto, Direction, Error, Kernel, KernelEvent, KernelOp, Key,
    Lifetimes, Mark, Mode, Monitor, NetlinkKernel, Policy, Prefix, Sa, Selector, SpiRequest,
    Template,
};

const CHILD_ENV: &str = "RSWAN_XFRM_IN_NETNS";

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Returns true when the caller is already inside its private namespace and should run the
/// test body. Otherwise runs the named test again under `unshare -n` and checks it passed.
fn in_fresh_netns(name: &str) -> bool {
    if std::env::var_os(CHILD_ENV).is_some() {
        return true;
    }
    if !is_root() {
        eprintln!("SKIP {name}: needs root (CAP_NET_ADMIN) to create a network namespace");
        return false;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new("unshare")
        .arg("-n")
        .arg("--")
        .arg(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .output()
        .expect("run unshare -n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} failed in its network namespace:\n{stdout}\n{stderr}"
    );
    false
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn tunnel_policy(n: u16, direction: Direction) -> Policy {
    let (hi, lo) = ((n >> 8) as u8, n as u8);
    let (l, r) = (
        Prefix::new(v4(10, hi, lo, 0), 24),
        Prefix::new(v4(100, 64 + hi, lo, 0), 24),
    );
    let (sel, ends) = match direction {
        Direction::Out => (
            Selector::between(l, r),
            (v4(192, 0, 2, 1), v4(198, 18, hi, lo)),
        ),
        _ => (
            Selector::between(r, l),
            (v4(198, 18, hi, lo), v4(192, 0, 2, 1)),
        ),
    };
    Policy {
        selector: sel,
        direction,
        priority: 1000,
        action: Action::Allow,
        templates: vec![Template {
            mode: Mode::Tunnel,
            endpoints: Some(ends),
            reqid: ownership::reqid(n),
            optional: false,
        }],
        if_id: None,
        mark: None,
    }
}

fn ip(args: &str) -> String {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn policy_add_list_update_delete() {
    if !in_fresh_netns("policy_add_list_update_delete") {
        return;
    }
    let mut k = NetlinkKernel::open().expect("netlink");
    assert!(k.list_policies().expect("list").is_empty());

    let mut out = tunnel_policy(1, Direction::Out);
    out.mark = Some(Mark {
        value: 0x10,
        mask: 0xff,
    });
    out.selector.proto = Some(6);
    out.selector.dst_port = Some(443);
    let inp = tunnel_policy(1, Direction::In);
    let fwd = tunnel_policy(1, Direction::Fwd);
    for p in [&out, &inp, &fwd] {
        k.add_policy(p).expect("add policy");
    }

    // Read back through our decoder: exactly what we installed.
    let listed = k.list_policies().expect("list");
    assert_eq!(listed.len(), 3);
    for p in [&out, &inp, &fwd] {
        assert!(
            listed.iter().any(|l| &l.policy == p),
            "{p:?} not listed as installed: {listed:?}"
        );
    }
    // ... and through iproute2's, independently of our encoder and decoder.
    let text = ip("xfrm policy list");
    assert!(
        text.contains("src 10.0.1.0/24 dst 100.64.1.0/24 proto tcp dport 443"),
        "{text}"
    );
    assert!(text.contains("mark 0x10/0xff"), "{text}");
    assert!(
        text.contains(&format!(
            "proto esp reqid {} mode tunnel",
            ownership::reqid(1)
        )),
        "{text}"
    );

    // Adding the same again is the kernel's EEXIST, with a sentence.
    match k.add_policy(&inp) {
        Err(Error::Kernel(e)) => {
            assert!(e.is_exists(), "{e}");
            assert!(e.to_string().contains("already exists"), "{e}");
        }
        other => panic!("expected EEXIST, got {other:?}"),
    }

    // Update changes the priority in place.
    let mut inp2 = inp.clone();
    inp2.priority = 2000;
    k.update_policy(&inp2).expect("update");
    let listed = k.list_policies().expect("list");
    assert!(listed.iter().any(|l| l.policy == inp2));
    assert!(!listed.iter().any(|l| l.policy == inp));

    for id in [out.id(), inp2.id(), fwd.id()] {
        k.delete_policy(&id).expect("delete");
    }
    assert!(k.list_policies().expect("list").is_empty());
    assert!(ip("xfrm policy list").trim().is_empty());
    match k.delete_policy(&fwd.id()) {
        Err(Error::Kernel(e)) => assert!(e.is_not_found(), "{e}"),
        other => panic!("expected not found, got {other:?}"),
    }
}

#[test]
fn flush_owned_spares_other_daemons_state() {
    if !in_fresh_netns("flush_owned_spares_other_daemons_state") {
        return;
    }
    // Another daemon's policies: reqid 1 (strongSwan style), and a template-less bypass.
    ip("xfrm policy add src 10.9.0.0/24 dst 10.8.0.0/24 dir out tmpl src 192.0.2.9 dst 192.0.2.8 proto esp reqid 1 mode tunnel");
    ip("xfrm policy add src 10.7.0.0/24 dst 10.6.0.0/24 dir out");
    // An SPI reserved by someone else (ALLOCSPI creates a larval SA; no ESP support needed).
    ip("xfrm state allocspi src 192.0.2.8 dst 192.0.2.9 proto esp reqid 1 mode tunnel");

    let mut k = NetlinkKernel::open().expect("netlink");
    for d in [Direction::Out, Direction::In, Direction::Fwd] {
        k.add_policy(&tunnel_policy(5, d)).expect("add");
    }
    // rswan's own bypass (shunt) policy, which carries no reqid.
    let shunt = Policy {
        selector: Selector::between(
            Prefix::new(v4(10, 5, 0, 0), 16),
            Prefix::new(v4(10, 6, 0, 0), 16),
        ),
        direction: Direction::Out,
        priority: 10,
        action: Action::Allow,
        templates: vec![],
        if_id: None,
        mark: None,
    };
    k.add_policy(&shunt).expect("add shunt");
    let spi = k
        .alloc_spi(&SpiRequest {
            src: v4(198, 18, 0, 5),
            dst: v4(192, 0, 2, 1),
            reqid: ownership::reqid(5),
            mode: Mode::Tunnel,
            mark: None,
            if_id: None,
            range: Some((0xc000_0000, 0xc0ff_ffff)),
        })
        .expect("alloc spi");
    assert!((0xc000_0000..=0xc0ff_ffff).contains(&spi), "{spi:#x}");
    let sas = k.list_sas().expect("list sas");
    assert_eq!(sas.len(), 2);
    assert!(sas
        .iter()
        .any(|s| s.spi == spi && s.reqid == ownership::reqid(5) && s.dst == v4(192, 0, 2, 1)));
    assert_eq!(k.list_policies().expect("list").len(), 6);

    let r = k.flush_owned().expect("flush");
    assert_eq!((r.sas, r.policies), (1, 4));
    let left = k.list_policies().expect("list");
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left
        .iter()
        .all(|p| p.policy.templates.iter().all(|t| t.reqid == 1)));
    let sas = k.list_sas().expect("list sas");
    assert_eq!(sas.len(), 1);
    assert_eq!(sas[0].reqid, 1);
}

#[test]
fn sa_on_a_kernel_without_esp_says_so() {
    if !in_fresh_netns("sa_on_a_kernel_without_esp_says_so") {
        return;
    }
    let sa = Sa {
        src: v4(192, 0, 2, 1),
        dst: v4(192, 0, 2, 2),
        spi: 0x1000,
        reqid: ownership::reqid(1),
        mode: Mode::Tunnel,
        crypto: Crypto::Aead {
            alg: AeadAlg::AesGcm,
            key: Key::new(vec![7; 20]),
            icv_bits: 128,
        },
        replay_window: 32,
        esn: false,
        encap: None,
        lifetimes: Lifetimes::default(),
        if_id: None,
        mark: None,
        selector: None,
        acquire_seq: None,
    };
    let mut k = NetlinkKernel::open().expect("netlink");
    let esp_loaded = std::path::Path::new("/sys/module/esp4").exists();
    match k.add_sa(&sa) {
        Ok(()) => {
            // A kernel with ESP: the SA must then be readable and deletable.
            assert!(esp_loaded || k.list_sas().expect("list").len() == 1);
            let c = k.get_sa_counters(&sa.id()).expect("counters");
            assert_eq!((c.bytes, c.packets), (0, 0));
            k.delete_sa(&sa.id()).expect("delete");
            eprintln!("this kernel has ESP: SA add/read/delete checked instead");
        }
        Err(Error::Kernel(e)) => {
            let text = e.to_string();
            // Depending on build options the kernel first misses the AEAD or ESP itself.
            assert!(
                text.contains("no ESP support") || text.contains("AEAD algorithm"),
                "{text}"
            );
            assert!(
                e.errno == libc_eprotonosupport() || e.errno == libc_enosys(),
                "{e:?}"
            );
            eprintln!("{text}");
        }
        Err(other) => panic!("unexpected error {other}"),
    }
    // Validation fails before the kernel sees anything.
    let mut bad = sa.clone();
    bad.crypto = Crypto::Aead {
        alg: AeadAlg::AesGcm,
        key: Key::new(vec![7; 16]),
        icv_bits: 128,
    };
    assert!(matches!(k.add_sa(&bad), Err(Error::Invalid(_))));
}

fn libc_eprotonosupport() -> i32 {
    93
}
fn libc_enosys() -> i32 {
    38
}

#[test]
fn pipelined_apply_reports_each_result() {
    if !in_fresh_netns("pipelined_apply_reports_each_result") {
        return;
    }
    let n = 2000u16;
    let mut ops: Vec<KernelOp> = (0..n)
        .flat_map(|i| {
            [Direction::Out, Direction::In, Direction::Fwd]
                .map(|d| KernelOp::AddPolicy(tunnel_policy(i, d)))
        })
        .collect();
    // One duplicate in the middle and one invalid op: only those two fail.
    ops.insert(3000, KernelOp::AddPolicy(tunnel_policy(7, Direction::In)));
    let mut invalid = tunnel_policy(9999, Direction::Out);
    invalid.templates[0].reqid = 42;
    ops.insert(10, KernelOp::AddPolicy(invalid));

    let mut k = NetlinkKernel::open().expect("netlink");
    let t = Instant::now();
    let results = k.apply(&ops);
    eprintln!("{} policy adds in {:?}", ops.len(), t.elapsed());
    assert_eq!(results.len(), ops.len());
    let failed: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_err())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(failed, vec![10, 3001]);
    assert!(matches!(results[10], Err(Error::Invalid(_))));
    assert!(matches!(&results[3001], Err(Error::Kernel(e)) if e.is_exists()));
    assert_eq!(k.list_policies().expect("list").len(), 3 * n as usize);

    let dels: Vec<KernelOp> = (0..n)
        .flat_map(|i| {
            [Direction::Out, Direction::In, Direction::Fwd]
                .map(|d| KernelOp::DeletePolicy(tunnel_policy(i, d).id()))
        })
        .collect();
    assert!(k.apply(&dels).iter().all(|r| r.is_ok()));
    assert!(k.list_policies().expect("list").is_empty());
}

#[test]
fn monitor_reports_policy_changes_and_acquire() {
    if !in_fresh_netns("monitor_reports_policy_changes_and_acquire") {
        return;
    }
    // Loopback traffic never consults policies, so the trap sits on a (port-less) bridge: the
    // only virtual link type every kernel we run on has built in.
    ip("link add br0 type bridge");
    ip("link set br0 up");
    ip("addr add 10.5.0.1/24 dev br0");
    let mut mon = Monitor::open().expect("monitor");
    mon.set_non_blocking(true).expect("non-blocking");
    let mut k = NetlinkKernel::open().expect("netlink");

    // A trap policy: traffic to 10.5.0.2 needs an SA that does not exist.
    let trap = Policy {
        selector: Selector::between(Prefix::host(v4(10, 5, 0, 1)), Prefix::host(v4(10, 5, 0, 2))),
        direction: Direction::Out,
        priority: 100,
        action: Action::Allow,
        templates: vec![Template {
            mode: Mode::Tunnel,
            endpoints: Some((v4(192, 0, 2, 1), v4(192, 0, 2, 2))),
            reqid: ownership::reqid(77),
            optional: false,
        }],
        if_id: None,
        mark: None,
    };
    k.add_policy(&trap).expect("add trap policy");
    let sock = UdpSocket::bind("10.5.0.1:0").expect("bind");
    // Held by the missing SA: the kernel raises ACQUIRE (the send itself may fail or not).
    let _ = sock.send_to(b"x", "10.5.0.2:9");
    k.delete_policy(&trap.id()).expect("delete");

    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && events.len() < 3 {
        match mon.try_next_event().expect("event") {
            Some(e) => events.push(e),
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    assert!(
        matches!(&events[0], KernelEvent::PolicyAdded(p) if p.policy == trap),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| matches!(e,
            KernelEvent::Acquire { src, dst, reqid, selector: Some(sel), direction: Some(Direction::Out), .. }
                if *src == v4(192, 0, 2, 1) && *dst == v4(192, 0, 2, 2)
                    && *reqid == Some(ownership::reqid(77))
                    && sel.dst.addr == v4(10, 5, 0, 2) && sel.proto == Some(17))),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| matches!(e,
            KernelEvent::PolicyDeleted { direction: Some(Direction::Out), policy: Some(p), .. }
                if p.policy.selector == trap.selector)),
        "{events:?}"
    );
}

/// The tokio wrapper delivers the same events (run with `--features tokio`).
#[cfg(feature = "tokio")]
#[test]
fn async_monitor_yields_policy_events() {
    if !in_fresh_netns("async_monitor_yields_policy_events") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut mon =
            rswan_xfrm::AsyncMonitor::new(Monitor::open().expect("monitor")).expect("async");
        let mut k = NetlinkKernel::open().expect("netlink");
        let p = tunnel_policy(3, Direction::Out);
        k.add_policy(&p).expect("add");
        let e = tokio::time::timeout(Duration::from_secs(5), mon.next())
            .await
            .expect("event within 5 s")
            .expect("event");
        assert!(
            matches!(&e, KernelEvent::PolicyAdded(i) if i.policy == p),
            "{e:?}"
        );
    });
}

#[test]
fn policy_hash_thresholds_are_applied() {
    if !in_fresh_netns("policy_hash_thresholds_are_applied") {
        return;
    }
    let mut k = NetlinkKernel::open().expect("netlink");
    let before = ip("-s -s xfrm policy count");
    assert!(
        before.contains("IPv4 thresholds: local 32 remote 32"),
        "{before}"
    );
    k.set_policy_hash_thresholds((24, 16), (64, 48))
        .expect("set");
    let text = ip("-s -s xfrm policy count");
    assert!(
        text.contains("IPv4 thresholds: local 24 remote 16"),
        "{text}"
    );
    assert!(
        text.contains("IPv6 thresholds: local 64 remote 48"),
        "{text}"
    );
    assert!(matches!(
        k.set_policy_hash_thresholds((33, 24), (128, 128)),
        Err(Error::Invalid(_))
    ));
}
