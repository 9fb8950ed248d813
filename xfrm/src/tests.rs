//! Unit tests: golden byte vectors for what we send, length-checked decoding of what the kernel
//! sends (every truncation is an error, never a panic), validation, and the Recorder.
//!
//! Expected bytes are written out field by field from the kernel's uapi structs
//! (include/uapi/linux/xfrm.h), independently of netlink-packet-xfrm which does the encoding.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::decode;
use crate::encode;
use crate::error::{Invalid, KernelError, Operation};
use crate::model::*;
use crate::monitor::{decode_events, KernelEvent};
use crate::ownership::reqid;
use crate::{AeadAlg, AuthAlg, EncAlg, Error, Kernel, Recorder};

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Little-endian helpers for building expected kernel structs (x86-64 host order).
struct B(Vec<u8>);
impl B {
    fn new() -> B {
        B(Vec::new())
    }
    fn u8(mut self, v: u8) -> B {
        self.0.push(v);
        self
    }
    fn u16(mut self, v: u16) -> B {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }
    fn be16(mut self, v: u16) -> B {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(mut self, v: u32) -> B {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }
    fn be32(mut self, v: u32) -> B {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u64(mut self, v: u64) -> B {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }
    fn zeros(mut self, n: usize) -> B {
        self.0.resize(self.0.len() + n, 0);
        self
    }
    fn bytes(mut self, b: &[u8]) -> B {
        self.0.extend_from_slice(b);
        self
    }
    fn addr4(self, a: [u8; 4]) -> B {
        self.bytes(&a).zeros(12)
    }
    fn name(self, s: &str) -> B {
        let n = s.len();
        self.bytes(s.as_bytes()).zeros(64 - n)
    }
    /// xfrm_selector
    fn selector4(self, src: [u8; 4], plen_s: u8, dst: [u8; 4], plen_d: u8) -> B {
        self.addr4(dst)
            .addr4(src)
            .zeros(8) // ports and masks
            .u16(2) // AF_INET
            .u8(plen_d)
            .u8(plen_s)
            .u8(0) // proto
            .zeros(3)
            .u32(0) // ifindex
            .u32(0) // user
    }
    /// xfrm_lifetime_cfg with no limits
    fn lifetime_inf(self) -> B {
        self.u64(u64::MAX)
            .u64(u64::MAX)
            .u64(u64::MAX)
            .u64(u64::MAX)
            .zeros(32)
    }
    fn nlmsg(self, ty: u16, flags: u16, seq: u32, body: &[u8]) -> B {
        self.u32(16 + body.len() as u32)
            .u16(ty)
            .u16(flags)
            .u32(seq)
            .u32(0)
            .bytes(body)
    }
    fn attr(self, ty: u16, value: &[u8]) -> B {
        let pad = (4 - value.len() % 4) % 4;
        self.u16(4 + value.len() as u16)
            .u16(ty)
            .bytes(value)
            .zeros(pad)
    }
}

fn gcm_sa() -> Sa {
    Sa {
        src: v4(192, 0, 2, 1),
        dst: v4(192, 0, 2, 2),
        spi: 0x1000,
        reqid: reqid(1),
        mode: Mode::Tunnel,
        crypto: Crypto::Aead {
            alg: AeadAlg::AesGcm,
            key: Key::new((0u8..36).collect()),
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
    }
}

fn lan_policy(direction: Direction) -> Policy {
    Policy {
        selector: Selector::between(
            Prefix::new(v4(10, 1, 0, 0), 24),
            Prefix::new(v4(10, 2, 0, 0), 24),
        ),
        direction,
        priority: 1000,
        action: Action::Allow,
        templates: vec![Template {
            mode: Mode::Tunnel,
            endpoints: Some((v4(192, 0, 2, 1), v4(192, 0, 2, 2))),
            reqid: reqid(1),
            optional: false,
        }],
        if_id: None,
        mark: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Golden vectors for requests

#[test]
fn golden_delete_sa() {
    let mut buf = Vec::new();
    encode::delete_sa(
        &mut buf,
        7,
        &SaId {
            dst: v4(192, 0, 2, 2),
            spi: 0x1000,
            mark: None,
        },
    );
    // nlmsghdr{len 40, XFRM_MSG_DELSA, REQUEST|ACK, seq 7, pid 0}
    // xfrm_usersa_id{daddr 192.0.2.2, spi 0x1000 (BE), family AF_INET, proto ESP}
    let expected = hex("28000000 1100 0500 07000000 00000000
         c0000202 00000000 00000000 00000000 00001000 0200 32 00");
    assert_eq!(buf, expected);
}

#[test]
fn golden_delete_policy_with_mark() {
    let mut p = lan_policy(Direction::Out);
    p.mark = Some(Mark {
        value: 0x2a,
        mask: 0xff,
    });
    let mut buf = Vec::new();
    encode::delete_policy(&mut buf, 9, &p.id());
    let body = B::new()
        .selector4([10, 1, 0, 0], 24, [10, 2, 0, 0], 24)
        .u32(0) // index
        .u8(1) // XFRM_POLICY_OUT
        .zeros(3)
        .attr(21, &B::new().u32(0x2a).u32(0xff).0) // XFRMA_MARK
        .0;
    let expected = B::new().nlmsg(0x14, 0x5, 9, &body).0;
    assert_eq!(buf, expected);
}

fn usersa_info(sa_spi: u32, replay_window: u8, flags: u8) -> B {
    B::new()
        .zeros(40) // selector addresses and ports: match all
        .u16(2) // selector family AF_INET
        .zeros(14)
        .addr4([192, 0, 2, 2])
        .be32(sa_spi)
        .u8(50)
        .zeros(3)
        .addr4([192, 0, 2, 1])
        .lifetime_inf()
        .zeros(32) // curlft
        .zeros(12) // stats
        .u32(0) // seq
        .u32(reqid(1))
        .u16(2) // AF_INET
        .u8(1) // tunnel
        .u8(replay_window)
        .u8(flags)
        .zeros(7)
}

#[test]
fn golden_new_sa_aes_gcm() {
    let mut buf = Vec::new();
    encode::sa(&mut buf, 1, &gcm_sa(), false);
    let key: Vec<u8> = (0u8..36).collect();
    let aead = B::new()
        .name("rfc4106(gcm(aes))")
        .u32(288)
        .u32(128)
        .bytes(&key)
        .0;
    let body = usersa_info(0x1000, 32, 0).attr(18, &aead).0; // XFRMA_ALG_AEAD
    assert_eq!(body.len(), 224 + 4 + 72 + 36);
    // REQUEST|ACK|EXCL|CREATE
    let expected = B::new().nlmsg(0x10, 0x605, 1, &body).0;
    assert_eq!(buf, expected);
}

#[test]
fn golden_update_sa_cbc_sha256_udp_encap_esn_mark_ifid() {
    let mut sa = gcm_sa();
    sa.crypto = Crypto::EncAuth {
        enc: EncAlg::AesCbc,
        enc_key: Key::new(vec![0xaa; 16]),
        auth: AuthAlg::HmacSha256,
        auth_key: Key::new(vec![0xbb; 32]),
    };
    sa.esn = true;
    sa.replay_window = 64;
    sa.encap = Some(UdpEncap {
        src_port: 4500,
        dst_port: 4501,
        original_address: None,
    });
    sa.mark = Some(Mark { value: 1, mask: 1 });
    sa.if_id = Some(7);
    sa.lifetimes.soft.bytes = Some(1000);
    sa.lifetimes.hard.seconds = Some(3600);
    let mut buf = Vec::new();
    encode::sa(&mut buf, 2, &sa, true);

    let mut info = usersa_info(0x1000, 0, 128).0; // ESN flag, legacy window 0
                                                  // lifetime cfg starts at 96: soft_byte_limit, then hard_add_expires_seconds at 96+40
    info[96..104].copy_from_slice(&1000u64.to_ne_bytes());
    info[136..144].copy_from_slice(&3600u64.to_ne_bytes());
    let auth = B::new()
        .name("hmac(sha256)")
        .u32(256)
        .u32(128)
        .bytes(&[0xbb; 32])
        .0;
    let enc = B::new().name("cbc(aes)").u32(128).bytes(&[0xaa; 16]).0;
    let esn = B::new()
        .u32(2) // bmp_len words
        .u32(0)
        .u32(0)
        .u32(0)
        .u32(0)
        .u32(64) // replay_window
        .zeros(8) // bitmap
        .0;
    let encap = B::new()
        .u16(2) // UDP_ENCAP_ESPINUDP
        .be16(4500)
        .be16(4501)
        .zeros(2)
        .zeros(16)
        .0;
    let body = B::new()
        .bytes(&info)
        .attr(20, &auth) // XFRMA_ALG_AUTH_TRUNC
        .attr(2, &enc) // XFRMA_ALG_CRYPT
        .attr(23, &esn) // XFRMA_REPLAY_ESN_VAL
        .attr(4, &encap) // XFRMA_ENCAP
        .attr(21, &B::new().u32(1).u32(1).0) // XFRMA_MARK
        .attr(31, &B::new().u32(7).0) // XFRMA_IF_ID
        .0;
    let expected = B::new().nlmsg(0x1a, 0x5, 2, &body).0;
    assert_eq!(buf, expected);
}

#[test]
fn golden_new_policy_with_tunnel_template() {
    let mut buf = Vec::new();
    encode::policy(&mut buf, 3, &lan_policy(Direction::Fwd), false);
    let info = B::new()
        .selector4([10, 1, 0, 0], 24, [10, 2, 0, 0], 24)
        .lifetime_inf()
        .zeros(32) // curlft
        .u32(1000) // priority
        .u32(0) // index
        .u8(2) // fwd
        .u8(0) // allow
        .u8(0)
        .u8(0)
        .zeros(4)
        .0;
    assert_eq!(info.len(), 168);
    let tmpl = B::new()
        .addr4([192, 0, 2, 2])
        .u32(0) // spi
        .u8(50)
        .zeros(3)
        .u16(2)
        .zeros(2)
        .addr4([192, 0, 2, 1])
        .u32(reqid(1))
        .u8(1) // tunnel
        .u8(0) // share
        .u8(0) // optional
        .zeros(1)
        .u32(u32::MAX)
        .u32(u32::MAX)
        .u32(u32::MAX)
        .0;
    assert_eq!(tmpl.len(), 64);
    let body = B::new().bytes(&info).attr(5, &tmpl).0; // XFRMA_TMPL
    let expected = B::new().nlmsg(0x13, 0x605, 3, &body).0;
    assert_eq!(buf, expected);
}

#[test]
fn golden_alloc_spi() {
    let mut buf = Vec::new();
    encode::alloc_spi(
        &mut buf,
        4,
        &SpiRequest {
            src: v4(192, 0, 2, 2),
            dst: v4(192, 0, 2, 1),
            reqid: reqid(1),
            mode: Mode::Tunnel,
            mark: None,
            if_id: None,
            range: Some((0xc000_0000, 0xcfff_ffff)),
        },
    );
    let mut info = B::new()
        .zeros(40)
        .u16(2)
        .zeros(14)
        .addr4([192, 0, 2, 1])
        .be32(0)
        .u8(50)
        .zeros(3)
        .addr4([192, 0, 2, 2])
        .lifetime_inf() // the larval SA has no limits
        .zeros(32)
        .zeros(12)
        .u32(0)
        .u32(reqid(1))
        .u16(2)
        .u8(1)
        .u8(0)
        .u8(0)
        .zeros(7)
        .0;
    info.extend_from_slice(&0xc000_0000u32.to_ne_bytes());
    info.extend_from_slice(&0xcfff_ffffu32.to_ne_bytes());
    let expected = B::new().nlmsg(0x16, 0x1, 4, &info).0;
    assert_eq!(buf, expected);
}

#[test]
fn golden_policy_hash_thresholds() {
    let mut buf = Vec::new();
    encode::spd_hash_thresholds(&mut buf, 6, (24, 16), (64, 48));
    // nlmsghdr{36, XFRM_MSG_NEWSPDINFO, REQUEST|ACK, 6}, u32 flags 0,
    // XFRMA_SPD_IPV4_HTHRESH {24, 16} and XFRMA_SPD_IPV6_HTHRESH {64, 48}, each padded to 4.
    let expected = hex("24000000 2400 0500 06000000 00000000
         00000000
         0600 0300 18 10 0000
         0600 0400 40 30 0000");
    assert_eq!(buf, expected);
}

#[test]
fn outbound_sa_answering_an_acquire_carries_its_seq() {
    // xfrm_usersa_info.seq (offset 204 after the 16-byte nlmsghdr) is what the kernel compares
    // with its larval ACQUIRE state's seq; every other SA sends 0 there.
    let seq_field = |sa: &Sa| {
        let mut buf = Vec::new();
        encode::sa(&mut buf, 1, sa, false);
        u32::from_ne_bytes(buf[16 + 204..16 + 208].try_into().unwrap())
    };
    let mut sa = gcm_sa();
    assert_eq!(seq_field(&sa), 0);
    sa.acquire_seq = Some(0x0102_0304);
    assert_eq!(seq_field(&sa), 0x0102_0304);
    // The netlink header's own sequence number stays the request's.
    let mut buf = Vec::new();
    encode::sa(&mut buf, 9, &sa, false);
    let m = decode::messages(&buf).next().expect("one").expect("ok");
    assert_eq!(m.seq, 9);
}

#[test]
fn requests_pack_back_to_back_in_one_buffer() {
    let mut buf = Vec::new();
    encode::policy(&mut buf, 10, &lan_policy(Direction::Out), false);
    encode::policy(&mut buf, 11, &lan_policy(Direction::In), false);
    encode::sa(&mut buf, 12, &gcm_sa(), false);
    let msgs: Vec<_> = decode::messages(&buf)
        .collect::<Result<_, _>>()
        .expect("well formed");
    assert_eq!(
        msgs.iter().map(|m| (m.msg_type, m.seq)).collect::<Vec<_>>(),
        vec![(0x13, 10), (0x13, 11), (0x10, 12)]
    );
}

// ---------------------------------------------------------------------------------------------
// Decoding what the kernel sends

/// A NEWSA message as the kernel sends it in a dump or GETSA reply: our own encoding of the SA,
/// with counters filled in and XFRMA_LASTUSED appended.
fn kernel_newsa(sa: &Sa) -> Vec<u8> {
    let mut buf = Vec::new();
    encode::sa(&mut buf, 5, sa, false);
    buf[160 + 16..168 + 16].copy_from_slice(&1234u64.to_ne_bytes()); // curlft.bytes
    buf[168 + 16..176 + 16].copy_from_slice(&9u64.to_ne_bytes()); // curlft.packets
    buf[176 + 16..184 + 16].copy_from_slice(&1_700_000_000u64.to_ne_bytes());
    buf[200 + 16..204 + 16].copy_from_slice(&3u32.to_ne_bytes()); // integrity_failed
    let last = B::new().attr(15, &B::new().u64(1_700_000_100).0).0;
    buf.extend_from_slice(&last);
    let len = buf.len() as u32;
    buf[0..4].copy_from_slice(&len.to_ne_bytes());
    buf
}

#[test]
fn decodes_sa_state_with_counters_and_encap() {
    let mut sa = gcm_sa();
    sa.encap = Some(UdpEncap {
        src_port: 4500,
        dst_port: 4500,
        original_address: None,
    });
    sa.mark = Some(Mark {
        value: 5,
        mask: 0xf,
    });
    let msg = kernel_newsa(&sa);
    let m = decode::messages(&msg).next().expect("one").expect("ok");
    let (info, attrs) =
        decode::split_fixed(m.payload, decode::USERSA_INFO_LEN, "sa").expect("fits");
    let s = decode::sa_state(info, attrs).expect("decodes");
    assert_eq!(s.src, sa.src);
    assert_eq!(s.dst, sa.dst);
    assert_eq!(s.spi, 0x1000);
    assert_eq!(s.proto, 50);
    assert_eq!(s.reqid, reqid(1));
    assert_eq!(s.mode, Some(Mode::Tunnel));
    assert_eq!(s.encap, sa.encap);
    assert_eq!(s.mark, sa.mark);
    assert_eq!(s.algorithms, vec!["rfc4106(gcm(aes))".to_string()]);
    assert_eq!(s.counters.bytes, 1234);
    assert_eq!(s.counters.packets, 9);
    assert_eq!(s.counters.add_time, 1_700_000_000);
    assert_eq!(s.counters.last_used, Some(1_700_000_100));
    assert_eq!(s.counters.integrity_failures, 3);
}

#[test]
fn decodes_policy_back_to_the_model() {
    let mut p = lan_policy(Direction::In);
    p.mark = Some(Mark {
        value: 0x100,
        mask: 0xf00,
    });
    p.if_id = Some(3);
    p.selector.proto = Some(proto::TCP);
    p.selector.dst_port = Some(443);
    let mut buf = Vec::new();
    encode::policy(&mut buf, 1, &p, false);
    let m = decode::messages(&buf).next().expect("one").expect("ok");
    let (info, attrs) =
        decode::split_fixed(m.payload, decode::USERPOLICY_INFO_LEN, "p").expect("fits");
    let got = decode::policy(info, attrs).expect("decodes");
    assert_eq!(got.policy, p);
    assert_eq!(got.template_protos, vec![50]);
}

#[test]
fn decodes_ack_with_extended_message() {
    // NLMSG_ERROR, flags CAPPED|ACK_TLVS, error -EPROTONOSUPPORT, echoed header (seq 42),
    // NLMSGERR_ATTR_MSG "Requested type not found".
    let echoed = B::new().u32(300).u16(0x10).u16(0x605).u32(42).u32(0).0;
    let body = B::new()
        .bytes(&(-93i32).to_ne_bytes())
        .bytes(&echoed)
        .attr(1, b"Requested type not found\0")
        .0;
    let msg = B::new().nlmsg(2, 0x300, 42, &body).0;
    let m = decode::messages(&msg).next().expect("one").expect("ok");
    let a = decode::ack(&m).expect("decodes");
    assert_eq!(a.errno, 93);
    assert_eq!(a.request_seq, 42);
    assert_eq!(a.message.as_deref(), Some("Requested type not found"));
    let e = KernelError {
        op: Operation::AddSa,
        errno: a.errno,
        kernel_message: a.message,
    };
    let text = e.to_string();
    assert!(text.contains("no ESP support"), "{text}");
    assert!(text.contains("errno 93"), "{text}");
}

#[test]
fn kernel_error_sentences_name_the_problem() {
    let e = |op, errno, msg: Option<&str>| KernelError {
        op,
        errno,
        kernel_message: msg.map(str::to_string),
    };
    assert!(e(
        Operation::AddSa,
        libc::ENOSYS,
        Some("Requested AEAD algorithm not found")
    )
    .explanation()
    .contains("AEAD algorithm"));
    assert!(e(Operation::AddSa, libc::EEXIST, None)
        .explanation()
        .contains("update_sa"));
    assert!(e(Operation::DeletePolicy, libc::ENOENT, None)
        .explanation()
        .contains("no such policy"));
    assert!(e(Operation::DeleteSa, libc::ESRCH, None).is_not_found());
    assert!(e(Operation::AddPolicy, libc::EPERM, None)
        .explanation()
        .contains("CAP_NET_ADMIN"));
}

fn acquire_msg() -> Vec<u8> {
    let tmpl = {
        let mut b = Vec::new();
        encode::policy(&mut b, 0, &lan_policy(Direction::Out), false);
        // the XFRMA_TMPL attribute of that policy: after header (16) and policy info (168)
        b[16 + 168..].to_vec()
    };
    let pol = {
        let mut b = Vec::new();
        encode::policy(&mut b, 0, &lan_policy(Direction::Out), false);
        let mut info = b[16..16 + 168].to_vec();
        info[156..160].copy_from_slice(&0x1234u32.to_ne_bytes()); // index
        info
    };
    let body = B::new()
        .addr4([192, 0, 2, 2]) // id.daddr
        .u32(0)
        .u8(50)
        .zeros(3)
        .addr4([192, 0, 2, 1]) // saddr
        .selector4([10, 1, 0, 5], 32, [10, 2, 0, 9], 32)
        .bytes(&pol)
        .u32(0)
        .u32(0)
        .u32(0)
        .u32(77) // seq
        .bytes(&tmpl)
        .0;
    B::new().nlmsg(0x17, 0, 0, &body).0
}

#[test]
fn decodes_acquire_event() {
    let events = decode_events(&acquire_msg());
    assert_eq!(events.len(), 1);
    match events.into_iter().next().expect("one").expect("ok") {
        KernelEvent::Acquire {
            src,
            dst,
            selector,
            reqid: r,
            policy_index,
            direction,
            seq,
        } => {
            assert_eq!((src, dst), (v4(192, 0, 2, 1), v4(192, 0, 2, 2)));
            let sel = selector.expect("selector");
            assert_eq!(sel.src, Prefix::host(v4(10, 1, 0, 5)));
            assert_eq!(sel.dst, Prefix::host(v4(10, 2, 0, 9)));
            assert_eq!(r, Some(reqid(1)));
            assert_eq!(policy_index, 0x1234);
            assert_eq!(direction, Some(Direction::Out));
            assert_eq!(seq, 77);
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn expire_msg(hard: bool) -> Vec<u8> {
    let sa = kernel_newsa(&gcm_sa());
    let info = &sa[16..16 + 224];
    let attrs = &sa[16 + 224..];
    let body = B::new()
        .bytes(info)
        .u8(u8::from(hard))
        .zeros(7)
        .bytes(attrs)
        .0;
    B::new().nlmsg(0x18, 0, 0, &body).0
}

fn mapping_msg() -> Vec<u8> {
    let body = B::new()
        .addr4([192, 0, 2, 1])
        .be32(0x2000)
        .u16(2)
        .u8(50)
        .u8(0)
        .u32(reqid(3))
        .addr4([198, 51, 100, 7])
        .addr4([198, 51, 100, 8])
        .be16(4500)
        .be16(31337)
        .0;
    B::new().nlmsg(0x26, 0, 0, &body).0
}

#[test]
fn decodes_expire_and_mapping_events() {
    let mut datagram = expire_msg(false);
    datagram.extend(expire_msg(true));
    datagram.extend(mapping_msg());
    let events: Vec<KernelEvent> = decode_events(&datagram)
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("all decode");
    let id = gcm_sa().id();
    assert_eq!(
        events,
        vec![
            KernelEvent::Expire {
                id,
                src: v4(192, 0, 2, 1),
                reqid: reqid(1),
                hard: false
            },
            KernelEvent::Expire {
                id,
                src: v4(192, 0, 2, 1),
                reqid: reqid(1),
                hard: true
            },
            KernelEvent::Mapping {
                id: SaId {
                    dst: v4(192, 0, 2, 1),
                    spi: 0x2000,
                    mark: None
                },
                reqid: reqid(3),
                old: "198.51.100.7:4500".parse().expect("addr"),
                new: "198.51.100.8:31337".parse().expect("addr"),
            }
        ]
    );
}

fn policy_event_msgs() -> Vec<Vec<u8>> {
    let mut newp = Vec::new();
    encode::policy(&mut newp, 0, &lan_policy(Direction::Out), false);
    let info = newp[16..16 + 168].to_vec();
    let polexpire = B::new().bytes(&info).u8(1).zeros(7).0;
    let delp = B::new()
        .selector4([10, 1, 0, 0], 24, [10, 2, 0, 0], 24)
        .u32(0x99)
        .u8(1)
        .zeros(3)
        .attr(7, &info) // XFRMA_POLICY
        .0;
    vec![
        newp,
        B::new().nlmsg(0x1b, 0, 0, &polexpire).0,
        B::new().nlmsg(0x14, 0, 0, &delp).0,
        B::new().nlmsg(0x1d, 0, 0, &B::new().attr(16, &[0; 8]).0).0,
        B::new().nlmsg(0x20, 0, 0, &[]).0,
    ]
}

#[test]
fn decodes_policy_events() {
    let all: Vec<u8> = policy_event_msgs().concat();
    let events: Vec<KernelEvent> = decode_events(&all)
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("all decode");
    assert!(
        matches!(&events[0], KernelEvent::PolicyAdded(p) if p.policy == lan_policy(Direction::Out))
    );
    assert!(
        matches!(&events[1], KernelEvent::PolicyExpire { hard: true, policy } if policy.policy.direction == Direction::Out)
    );
    assert!(matches!(
        &events[2],
        KernelEvent::PolicyDeleted { index: 0x99, direction: Some(Direction::Out), policy: Some(p) }
            if p.policy.selector == lan_policy(Direction::Out).selector
    ));
    assert_eq!(events[3], KernelEvent::PoliciesFlushed);
    assert_eq!(events[4], KernelEvent::Other { msg_type: 0x20 });
}

/// Every message cut at every length must decode to an error (or a shorter valid prefix), and
/// nothing may panic. netlink-packet-xfrm 0.5 panics on most of these.
#[test]
fn truncated_messages_are_errors_not_panics() {
    let mut samples = vec![
        acquire_msg(),
        expire_msg(true),
        mapping_msg(),
        kernel_newsa(&gcm_sa()),
    ];
    samples.extend(policy_event_msgs());
    for full in &samples {
        for cut in 0..full.len() {
            let mut msg = full[..cut].to_vec();
            // Keep the header's length consistent with the cut so the body parsers see it.
            if msg.len() >= 4 {
                let len = msg.len() as u32;
                msg[0..4].copy_from_slice(&len.to_ne_bytes());
            }
            for e in decode_events(&msg) {
                let _ = e;
            }
            let first = decode::messages(&msg).next();
            if let Some(Ok(m)) = first {
                if let Ok((i, a)) = decode::split_fixed(m.payload, decode::USERSA_INFO_LEN, "t") {
                    let _ = decode::sa_state(i, a);
                }
                if let Ok((i, a)) = decode::split_fixed(m.payload, decode::USERPOLICY_INFO_LEN, "t")
                {
                    let _ = decode::policy(i, a);
                }
                let _ = decode::ack(&m);
            }
        }
        // A body one byte short of its fixed struct is an error, not an event.
        let short = {
            let fixed = match u16::from_ne_bytes([full[4], full[5]]) {
                0x17 => decode::USER_ACQUIRE_LEN,
                0x18 => decode::USER_EXPIRE_LEN,
                0x26 => decode::USER_MAPPING_LEN,
                0x1b => decode::USER_POLEXPIRE_LEN,
                0x13 | 0x19 => decode::USERPOLICY_INFO_LEN,
                0x14 => decode::USERPOLICY_ID_LEN,
                _ => continue,
            };
            let mut m = full[..16 + fixed - 1].to_vec();
            let len = m.len() as u32;
            m[0..4].copy_from_slice(&len.to_ne_bytes());
            m
        };
        let ev = decode_events(&short);
        assert!(
            matches!(ev.as_slice(), [Err(crate::DecodeError::Truncated { .. })]),
            "{ev:?}"
        );
    }
}

#[test]
fn garbage_never_panics() {
    // Deterministic pseudo-random bytes, also with plausible headers and attribute lengths.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..3000 {
        let len = (next() % 600) as usize;
        let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if buf.len() >= 16 && round % 2 == 0 {
            let l = (next() % (buf.len() as u64 + 8)) as u32;
            buf[0..4].copy_from_slice(&l.to_ne_bytes());
            let ty = [0x10u16, 0x13, 0x14, 0x17, 0x18, 0x1b, 0x26, 2][(next() % 8) as usize];
            buf[4..6].copy_from_slice(&ty.to_ne_bytes());
        }
        let _ = decode_events(&buf);
        for m in decode::messages(&buf).flatten() {
            let _ = decode::ack(&m);
            let _ = decode::sa_state(m.payload, m.payload);
            let _ = decode::policy(m.payload, m.payload);
        }
    }
}

#[test]
fn malformed_header_lengths_are_rejected() {
    // Length below the header size, and length beyond the buffer.
    for len in [0u32, 8, 15, 1000] {
        let msg = B::new().u32(len).u16(0x10).u16(0).u32(0).u32(0).0;
        let r: Vec<_> = decode::messages(&msg).collect();
        assert!(matches!(r.as_slice(), [Err(_)]), "len {len}: {r:?}");
    }
    // Attribute claiming more bytes than present.
    let attrs = B::new().u16(200).u16(5).zeros(8).0;
    assert!(matches!(
        decode::attributes(&attrs).collect::<Vec<_>>().as_slice(),
        [Err(_)]
    ));
}

// ---------------------------------------------------------------------------------------------
// Validation

fn invalid_sa(f: impl FnOnce(&mut Sa)) -> Invalid {
    let mut sa = gcm_sa();
    f(&mut sa);
    sa.validate().expect_err("must be rejected")
}

#[test]
fn rejects_wrong_key_lengths_with_a_sentence() {
    let e = invalid_sa(|sa| {
        sa.crypto = Crypto::Aead {
            alg: AeadAlg::AesGcm,
            key: Key::new(vec![0; 32]), // salt forgotten
            icv_bits: 128,
        }
    });
    assert_eq!(
        e.to_string(),
        "key for rfc4106(gcm(aes)) is 32 bytes, but it must be one of [20, 28, 36] bytes"
    );
    let e = invalid_sa(|sa| {
        sa.crypto = Crypto::EncAuth {
            enc: EncAlg::AesCbc,
            enc_key: Key::new(vec![0; 16]),
            auth: AuthAlg::HmacSha256,
            auth_key: Key::new(vec![0; 20]),
        }
    });
    assert!(matches!(
        e,
        Invalid::KeyLength {
            alg: "hmac(sha256)",
            got: 20,
            ..
        }
    ));
    let e = invalid_sa(|sa| {
        sa.crypto = Crypto::Aead {
            alg: AeadAlg::ChaCha20Poly1305,
            key: Key::new(vec![0; 36]),
            icv_bits: 96,
        }
    });
    assert!(matches!(e, Invalid::IcvLength { got: 96, .. }));
}

#[test]
fn rejects_transport_mode_with_tunnel_endpoints() {
    // A transport SA whose selector covers subnets (what a tunnel would carry).
    let e = invalid_sa(|sa| {
        sa.mode = Mode::Transport;
        sa.selector = Some(lan_policy(Direction::Out).selector);
    });
    assert!(matches!(e, Invalid::TransportSelectorNotEndpoints { .. }));
    assert!(e.to_string().contains("tunnel mode"));
    // Transport SA between the hosts themselves is fine.
    let mut ok = gcm_sa();
    ok.mode = Mode::Transport;
    ok.selector = Some(Selector::between(
        Prefix::host(ok.src),
        Prefix::host(ok.dst),
    ));
    ok.validate().expect("valid transport SA");
    // A transport template that names endpoints.
    let mut p = lan_policy(Direction::Out);
    p.templates[0].mode = Mode::Transport;
    assert!(matches!(
        p.validate(),
        Err(Invalid::TransportWithEndpoints { .. })
    ));
    p.templates[0].mode = Mode::Tunnel;
    p.templates[0].endpoints = None;
    assert_eq!(p.validate(), Err(Invalid::TunnelWithoutEndpoints));
}

#[test]
fn rejects_other_nonsense() {
    assert_eq!(invalid_sa(|sa| sa.spi = 255), Invalid::ReservedSpi(255));
    assert_eq!(invalid_sa(|sa| sa.reqid = 1), Invalid::ForeignReqid(1));
    assert!(matches!(
        invalid_sa(|sa| sa.dst = IpAddr::V6(Ipv6Addr::LOCALHOST)),
        Invalid::MixedFamilies { .. }
    ));
    assert!(matches!(
        invalid_sa(|sa| {
            sa.lifetimes.soft.seconds = Some(3600);
            sa.lifetimes.hard.seconds = Some(1800);
        }),
        Invalid::SoftAfterHard {
            what: "seconds",
            ..
        }
    ));
    assert!(matches!(
        invalid_sa(|sa| sa.lifetimes.hard.packets = Some(0)),
        Invalid::ZeroLifetime { what: "packets" }
    ));
    assert_eq!(
        invalid_sa(|sa| sa.replay_window = 5000),
        Invalid::ReplayWindowTooLarge(5000)
    );
    assert_eq!(
        invalid_sa(|sa| {
            sa.esn = true;
            sa.replay_window = 0;
        }),
        Invalid::EsnWithoutReplayWindow
    );
    assert_eq!(
        invalid_sa(|sa| sa.encap = Some(UdpEncap {
            src_port: 0,
            dst_port: 4500,
            original_address: None
        })),
        Invalid::ZeroEncapPort
    );
    assert_eq!(invalid_sa(|sa| sa.if_id = Some(0)), Invalid::ZeroIfId);
    assert!(matches!(
        invalid_sa(|sa| sa.mark = Some(Mark {
            value: 0x10,
            mask: 0x0f
        })),
        Invalid::MarkOutsideMask { .. }
    ));

    let mut p = lan_policy(Direction::Out);
    p.selector.src = Prefix::new(v4(10, 1, 0, 1), 24);
    assert!(matches!(p.validate(), Err(Invalid::HostBitsSet { .. })));
    let mut p = lan_policy(Direction::Out);
    p.selector.dst_port = Some(80);
    assert!(matches!(
        p.validate(),
        Err(Invalid::PortsWithoutPortProtocol { proto: None })
    ));
    p.selector.proto = Some(proto::ICMP);
    assert!(matches!(
        p.validate(),
        Err(Invalid::PortsWithoutPortProtocol { proto: Some(1) })
    ));
    let mut p = lan_policy(Direction::Out);
    p.action = Action::Block;
    assert_eq!(p.validate(), Err(Invalid::BlockWithTemplates));
    let mut p = lan_policy(Direction::Out);
    p.selector.dst.len = 33;
    assert!(matches!(p.validate(), Err(Invalid::PrefixTooLong { .. })));
}

// ---------------------------------------------------------------------------------------------
// Recorder

#[test]
fn recorder_behaves_like_the_kernel() {
    let mut k = Recorder::new();
    let req = SpiRequest {
        src: v4(192, 0, 2, 2),
        dst: v4(192, 0, 2, 1),
        reqid: reqid(4),
        mode: Mode::Tunnel,
        mark: None,
        if_id: None,
        range: None,
    };
    let spi = k.alloc_spi(&req).expect("spi");
    assert!(spi >= 256);
    let mut sa = gcm_sa();
    sa.src = req.src;
    sa.dst = req.dst;
    sa.spi = spi;
    // The SPI is held by a larval SA: add fails like the kernel's EEXIST, update succeeds.
    let e = k.add_sa(&sa).expect_err("exists");
    assert!(matches!(e, Error::Kernel(ref k) if k.is_exists()));
    k.update_sa(&sa).expect("update larval");
    assert_eq!(k.sa(&sa.id()), Some(&sa));

    // Invalid requests never reach the store.
    let mut bad = gcm_sa();
    bad.spi = 1;
    assert!(matches!(k.add_sa(&bad), Err(Error::Invalid(_))));
    assert_eq!(k.sa_count(), 1);

    k.add_policy(&lan_policy(Direction::Out)).expect("policy");
    assert!(k.add_policy(&lan_policy(Direction::Out)).is_err());
    k.fail_next(Operation::AddPolicy, libc::ENOBUFS);
    let e = k
        .add_policy(&lan_policy(Direction::In))
        .expect_err("injected");
    assert!(matches!(e, Error::Kernel(ref k) if k.errno == libc::ENOBUFS));
    k.add_policy(&lan_policy(Direction::In))
        .expect("policy after injected failure");
    assert_eq!(k.list_policies().expect("list").len(), 2);

    let r = k.flush_owned().expect("flush");
    assert_eq!((r.sas, r.policies), (1, 2));
    assert_eq!((k.sa_count(), k.policy_count()), (0, 0));
    assert!(matches!(k.delete_sa(&sa.id()), Err(Error::Kernel(ref e)) if e.is_not_found()));
}
