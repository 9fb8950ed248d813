//! Reader for the strongSwan 5.9.8 captures in `tests/data/strongswan-5.9.8/`.
//!
//! Pcap files with link type Ethernet, IPv4 only. IKE runs on UDP 500 and 4500; on 4500 an IKE message
//! is preceded by the 4-octet non-ESP marker (RFC 3948), any other 4500 datagram is ESP-in-UDP. The
//! `transport-mode` case also carries plain ESP (IP protocol 50). Frame numbers are 1-based pcap record
//! numbers, as in each case's JSON.
//!
//! This is test support: malformed capture files panic with a message naming the file and frame.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

pub const CASES: [&str; 7] = [
    "psk-gcm-ecp256",
    "psk-cbc-modp2048",
    "psk-chacha-x25519",
    "invalid-ke",
    "mismatch",
    "wrong-psk",
    "transport-mode",
];

pub struct Case {
    pub name: String,
    pub json: serde_json::Value,
    pub ike: Vec<CapturedIke>,
    pub esp: Vec<CapturedEsp>,
}

#[derive(Clone, Debug)]
pub struct CapturedIke {
    /// 1-based pcap frame number, as the JSON's `frame`.
    pub frame: usize,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// The IKE message, without the non-ESP marker.
    pub bytes: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct CapturedEsp {
    pub frame: usize,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// True for ESP-in-UDP (port 4500); false for IP protocol 50 (ports are then 0).
    pub udp_encap: bool,
    /// The ESP packet, starting at the SPI.
    pub bytes: Vec<u8>,
}

impl Case {
    /// The JSON description of the IKE message in `frame`.
    pub fn message_json(&self, frame: usize) -> &serde_json::Value {
        self.json["messages"]
            .as_array()
            .expect("json has messages")
            .iter()
            .find(|m| m["frame"].as_u64() == Some(frame as u64))
            .unwrap_or_else(|| panic!("{}: no json message for frame {frame}", self.name))
    }
}

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/strongswan-5.9.8")
}

pub fn load_case(name: &str) -> Case {
    let dir = data_dir();
    let json_path = dir.join(format!("{name}.json"));
    let json_text = std::fs::read_to_string(&json_path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", json_path.display()));
    let json: serde_json::Value = serde_json::from_str(&json_text)
        .unwrap_or_else(|e| panic!("parsing {}: {e}", json_path.display()));
    let pcap_path = dir.join(format!("{name}.pcap"));
    let pcap = std::fs::read(&pcap_path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", pcap_path.display()));
    let (ike, esp) = parse_pcap(name, &pcap);
    Case {
        name: name.to_string(),
        json,
        ike,
        esp,
    }
}

const LINKTYPE_ETHERNET: u32 = 1;
const ETHERTYPE_IPV4: u16 = 0x0800;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ESP: u8 = 50;

fn parse_pcap(name: &str, pcap: &[u8]) -> (Vec<CapturedIke>, Vec<CapturedEsp>) {
    let global = pcap
        .get(..24)
        .unwrap_or_else(|| panic!("{name}: pcap too short"));
    let magic = [global[0], global[1], global[2], global[3]];
    // Microsecond (a1b2c3d4) and nanosecond (a1b23c4d) magics, in either byte order.
    let le = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("{name}: not a pcap file (magic {magic:02x?})"),
    };
    let u32_at = |b: &[u8], off: usize| -> u32 {
        let a: [u8; 4] = b[off..off + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let linktype = u32_at(global, 20);
    assert_eq!(linktype, LINKTYPE_ETHERNET, "{name}: link type");

    let mut ike = Vec::new();
    let mut esp = Vec::new();
    let mut off = 24;
    let mut frame = 0;
    while off < pcap.len() {
        frame += 1;
        let rec = pcap
            .get(off..off + 16)
            .unwrap_or_else(|| panic!("{name}: frame {frame}: truncated record header"));
        let incl = u32_at(rec, 8) as usize;
        let orig = u32_at(rec, 12) as usize;
        assert_eq!(
            incl, orig,
            "{name}: frame {frame} was cut by the snap length"
        );
        let data = pcap
            .get(off + 16..off + 16 + incl)
            .unwrap_or_else(|| panic!("{name}: frame {frame}: truncated packet"));
        off += 16 + incl;
        parse_frame(name, frame, data, &mut ike, &mut esp);
    }
    (ike, esp)
}

fn parse_frame(
    name: &str,
    frame: usize,
    eth: &[u8],
    ike: &mut Vec<CapturedIke>,
    esp: &mut Vec<CapturedEsp>,
) {
    let ctx = || format!("{name}: frame {frame}");
    let ethertype = u16::from_be_bytes(
        eth.get(12..14)
            .unwrap_or_else(|| panic!("{}: short ethernet", ctx()))
            .try_into()
            .unwrap(),
    );
    assert_eq!(ethertype, ETHERTYPE_IPV4, "{}: ethertype", ctx());
    let ip = &eth[14..];
    assert!(ip.len() >= 20, "{}: short IPv4 header", ctx());
    assert_eq!(ip[0] >> 4, 4, "{}: IP version", ctx());
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    // IP fragments would need reassembly; none of the captures has any.
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    assert_eq!(frag & 0x3fff, 0, "{}: IP fragment", ctx());
    let ip = ip
        .get(..total)
        .unwrap_or_else(|| panic!("{}: IP total length beyond frame", ctx()));
    let src_ip = IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]));
    let dst_ip = IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]));
    let l4 = ip
        .get(ihl..)
        .unwrap_or_else(|| panic!("{}: bad IHL", ctx()));
    match ip[9] {
        IPPROTO_ESP => esp.push(CapturedEsp {
            frame,
            src: SocketAddr::new(src_ip, 0),
            dst: SocketAddr::new(dst_ip, 0),
            udp_encap: false,
            bytes: l4.to_vec(),
        }),
        IPPROTO_UDP => {
            assert!(l4.len() >= 8, "{}: short UDP header", ctx());
            let sport = u16::from_be_bytes([l4[0], l4[1]]);
            let dport = u16::from_be_bytes([l4[2], l4[3]]);
            let ulen = usize::from(u16::from_be_bytes([l4[4], l4[5]]));
            let payload = l4
                .get(8..ulen)
                .unwrap_or_else(|| panic!("{}: UDP length beyond IP packet", ctx()));
            let src = SocketAddr::new(src_ip, sport);
            let dst = SocketAddr::new(dst_ip, dport);
            if sport == 500 || dport == 500 {
                ike.push(CapturedIke {
                    frame,
                    src,
                    dst,
                    bytes: payload.to_vec(),
                });
            } else if sport == 4500 || dport == 4500 {
                match payload {
                    [0, 0, 0, 0, rest @ ..] => ike.push(CapturedIke {
                        frame,
                        src,
                        dst,
                        bytes: rest.to_vec(),
                    }),
                    // A single 0xff octet is a NAT-T keepalive (RFC 3948 section 2.3).
                    [0xff] => {}
                    _ => esp.push(CapturedEsp {
                        frame,
                        src,
                        dst,
                        udp_encap: true,
                        bytes: payload.to_vec(),
                    }),
                }
            } else {
                panic!("{}: UDP {sport} -> {dport} is neither IKE nor NAT-T", ctx());
            }
        }
        p => panic!("{}: unexpected IP protocol {p}", ctx()),
    }
}
