//! Socket options for IKE sockets: ESP-in-UDP decapsulation on the NAT-T socket, and a
//! per-socket bypass so IKE packets are never caught by a tunnel policy.
//!
//! This is the only module with `unsafe`: `setsockopt` takes a raw pointer and length, and
//! neither std nor netlink-sys exposes these IPsec-specific options.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::Emitable;
use netlink_packet_xfrm::{LifetimeConfig, Selector as NlSelector, UserPolicyInfo};

use crate::model::Family;

/// `UDP_ENCAP` socket option (linux/udp.h).
const UDP_ENCAP: libc::c_int = 100;
/// ESP in UDP, RFC 3948 (linux/udp.h).
const UDP_ENCAP_ESPINUDP: libc::c_int = 2;
const XFRM_POLICY_IN: u8 = 0;
const XFRM_POLICY_OUT: u8 = 1;

fn setsockopt_bytes(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &[u8],
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(value.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "option too long"))?;
    // SAFETY: `value` is a live slice for the whole call and `len` is its exact length, so the
    // kernel reads only bytes we own; `fd` is a borrowed, open descriptor.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value.as_ptr().cast::<libc::c_void>(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Makes the kernel take ESP-in-UDP packets arriving on this UDP socket (port 4500) and hand
/// only IKE (after the non-ESP marker) to userspace.
pub fn set_udp_encap_espinudp(fd: BorrowedFd<'_>) -> io::Result<()> {
    setsockopt_bytes(
        fd,
        libc::IPPROTO_UDP,
        UDP_ENCAP,
        &UDP_ENCAP_ESPINUDP.to_ne_bytes(),
    )
}

/// Reads back the socket's UDP encapsulation type (0 = none, 2 = ESP-in-UDP).
pub fn udp_encap_type(fd: BorrowedFd<'_>) -> io::Result<i32> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live locals; the kernel writes at most `len` bytes (one int)
    // into `value` and updates `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_UDP,
            UDP_ENCAP,
            (&mut value as *mut libc::c_int).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The `xfrm_userpolicy_info` of a per-socket "allow, no transforms" policy.
fn bypass_policy(family: Family, direction: u8) -> Vec<u8> {
    let inf = u64::MAX;
    let info = UserPolicyInfo {
        selector: NlSelector {
            family: family.af(),
            ..NlSelector::default()
        },
        lifetime_cfg: LifetimeConfig {
            soft_byte_limit: inf,
            hard_byte_limit: inf,
            soft_packet_limit: inf,
            hard_packet_limit: inf,
            ..LifetimeConfig::default()
        },
        direction,
        action: 0,
        ..UserPolicyInfo::default()
    };
    let mut buf = vec![0u8; info.buffer_len()];
    info.emit(&mut buf);
    buf
}

/// Installs socket policies (IP_XFRM_POLICY / IPV6_XFRM_POLICY) in both directions that let this
/// socket's traffic bypass the SPD, so IKE to a peer is never tunnelled by a policy that covers
/// the peer's address. `family` is the socket's family.
pub fn set_ike_bypass(fd: BorrowedFd<'_>, family: Family) -> io::Result<()> {
    let (level, name) = match family {
        Family::V4 => (libc::IPPROTO_IP, libc::IP_XFRM_POLICY),
        Family::V6 => (libc::IPPROTO_IPV6, libc::IPV6_XFRM_POLICY),
    };
    for dir in [XFRM_POLICY_OUT, XFRM_POLICY_IN] {
        setsockopt_bytes(fd, level, name, &bypass_policy(family, dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    #[test]
    fn bypass_policy_layout() {
        let p = bypass_policy(Family::V6, XFRM_POLICY_IN);
        assert_eq!(p.len(), 168);
        // selector family at 40 (AF_INET6 = 10), direction at 160, action (allow) at 161
        assert_eq!(&p[40..42], &10u16.to_ne_bytes());
        assert_eq!(p[160], XFRM_POLICY_IN);
        assert_eq!(p[161], 0);
        // byte limits are "infinite", not 0
        assert_eq!(&p[56..64], &[0xff; 8]);
    }

    #[test]
    fn udp_encap_is_set_on_the_socket() {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        assert_eq!(udp_encap_type(s.as_fd()).expect("getsockopt"), 0);
        set_udp_encap_espinudp(s.as_fd()).expect("setsockopt UDP_ENCAP");
        assert_eq!(udp_encap_type(s.as_fd()).expect("getsockopt"), 2);
    }

    #[test]
    fn ike_bypass_is_accepted_by_the_kernel() {
        // Needs CAP_NET_ADMIN: without it the kernel answers EPERM.
        let root = std::fs::read_to_string("/proc/self/status")
            .map(|s| {
                s.lines()
                    .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
            })
            .unwrap_or(false);
        if !root {
            eprintln!("SKIP ike_bypass_is_accepted_by_the_kernel: not root");
            return;
        }
        let v4 = UdpSocket::bind("127.0.0.1:0").expect("bind v4");
        set_ike_bypass(v4.as_fd(), Family::V4).expect("IP_XFRM_POLICY");
        if let Ok(v6) = UdpSocket::bind("[::1]:0") {
            set_ike_bypass(v6.as_fd(), Family::V6).expect("IPV6_XFRM_POLICY");
        }
        // The wrong family's option on a v4 socket is refused, so the call is not a no-op.
        assert!(set_ike_bypass(v4.as_fd(), Family::V6).is_err());
    }
}
