//! The IKE sockets: UDP 500 and 4500 (or the configured ports) for IPv4 and IPv6, bound to the
//! wildcard address with IP_PKTINFO so that each datagram's local address is known and answers
//! leave from the address the peer sent to.
//!
//! The NAT-T socket has UDP_ENCAP_ESPINUDP: the kernel consumes ESP-in-UDP there and passes only
//! IKE, still prefixed by the 4-byte non-ESP marker, which this module strips on receive and adds
//! on send. Every socket carries the IKE bypass policy so IKE is never tunnelled by our own SAs.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::cmsg_space;
use nix::sys::socket::{
    bind, recvmsg, sendmsg, setsockopt, socket, sockopt, AddressFamily, ControlMessage,
    ControlMessageOwned, MsgFlags, SockFlag, SockType, SockaddrIn, SockaddrIn6, SockaddrStorage,
};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use rswan_xfrm::{sockets as xsock, Family};

/// RFC 3948 non-ESP marker: four zero octets before IKE on the NAT-T port.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// Largest datagram we accept; IKE messages beyond this must be fragmented (RFC 7383).
const MAX_DATAGRAM: usize = 65_535;

pub struct IkeSocket {
    pub sock: UdpSocket,
    pub family: Family,
    pub port: u16,
    /// The NAT-T socket: non-ESP marker on the wire, ESP-in-UDP decapsulated by the kernel.
    pub natt: bool,
}

pub struct Received {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub bytes: Vec<u8>,
}

impl IkeSocket {
    /// Opens and configures one socket. Must run inside a tokio runtime.
    pub fn open(family: Family, port: u16, natt: bool) -> io::Result<IkeSocket> {
        let af = match family {
            Family::V4 => AddressFamily::Inet,
            Family::V6 => AddressFamily::Inet6,
        };
        let fd: OwnedFd = socket(
            af,
            SockType::Datagram,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(io::Error::from)?;
        // No SO_REUSEADDR: on UDP it would let a second rswand bind the same port and silently
        // take half of the IKE traffic. A port in use must be a startup error.
        match family {
            Family::V4 => {
                setsockopt(&fd, sockopt::Ipv4PacketInfo, &true).map_err(io::Error::from)?;
                let addr = SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port));
                bind(fd.as_raw_fd(), &addr).map_err(|e| bind_error(e, family, port))?;
            }
            Family::V6 => {
                // Separate v4 and v6 sockets: a dual-stack socket would report v4-mapped
                // addresses, which the core and the kernel SAs must never see.
                setsockopt(&fd, sockopt::Ipv6V6Only, &true).map_err(io::Error::from)?;
                setsockopt(&fd, sockopt::Ipv6RecvPacketInfo, &true).map_err(io::Error::from)?;
                let addr = SockaddrIn6::from(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0));
                bind(fd.as_raw_fd(), &addr).map_err(|e| bind_error(e, family, port))?;
            }
        }
        xsock::set_ike_bypass(fd.as_fd(), family)?;
        if natt {
            xsock::set_udp_encap_espinudp(fd.as_fd())?;
        }
        let std_sock = std::net::UdpSocket::from(fd);
        let sock = UdpSocket::from_std(std_sock)?;
        Ok(IkeSocket {
            sock,
            family,
            port,
            natt,
        })
    }

    /// Waits for the next IKE datagram. Datagrams without the non-ESP marker on the NAT-T socket
    /// (which the kernel should have consumed) are skipped.
    pub async fn recv(&self) -> io::Result<Received> {
        loop {
            let r = self
                .sock
                .async_io(Interest::READABLE, || self.recv_now())
                .await?;
            if let Some(r) = r {
                return Ok(r);
            }
        }
    }

    fn recv_now(&self) -> io::Result<Option<Received>> {
        // Received into a scratch buffer on the stack and copied out at its own length: a queued
        // datagram then holds what was sent, not 64 KB (1,024 queued small packets of a flood
        // would otherwise pin 64 MB).
        let mut buf = [0u8; MAX_DATAGRAM];
        let fd = self.sock.as_raw_fd();
        let (len, remote, local_ip) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let mut cmsg = cmsg_space!(libc::in6_pktinfo);
            let msg = recvmsg::<SockaddrStorage>(fd, &mut iov, Some(&mut cmsg), MsgFlags::empty())
                .map_err(io::Error::from)?;
            let mut local_ip = None;
            for c in msg.cmsgs().map_err(io::Error::from)? {
                match c {
                    ControlMessageOwned::Ipv4PacketInfo(pi) => {
                        local_ip =
                            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr))));
                    }
                    ControlMessageOwned::Ipv6PacketInfo(pi) => {
                        local_ip = Some(IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            let remote = msg
                .address
                .and_then(|a: SockaddrStorage| storage_to_std(&a));
            (msg.bytes, remote, local_ip)
        };
        let (Some(remote), Some(local_ip)) = (remote, local_ip) else {
            return Ok(None);
        };
        let Some(mut data) = buf.get(..len) else {
            return Ok(None);
        };
        if self.natt {
            match data.strip_prefix(&NON_ESP_MARKER[..]) {
                Some(ike) => data = ike,
                None => return Ok(None),
            }
        }
        Ok(Some(Received {
            local: SocketAddr::new(local_ip, self.port),
            remote,
            bytes: data.to_vec(),
        }))
    }

    /// Sends `bytes` to `to` from the local address `from` (its port selects this socket).
    pub async fn send(&self, from: IpAddr, to: SocketAddr, bytes: &[u8]) -> io::Result<()> {
        self.sock
            .async_io(Interest::WRITABLE, || self.send_now(from, to, bytes))
            .await
    }

    fn send_now(&self, from: IpAddr, to: SocketAddr, bytes: &[u8]) -> io::Result<()> {
        // A NAT keepalive (RFC 3948 section 2.3) is the single octet 0xFF with no marker; every
        // IKE message on the NAT-T socket gets the non-ESP marker.
        let keepalive = bytes == [0xFF];
        let marker: &[u8] = if self.natt && !keepalive {
            &NON_ESP_MARKER
        } else {
            &[]
        };
        let iov = [IoSlice::new(marker), IoSlice::new(bytes)];
        let fd = self.sock.as_raw_fd();
        let sent = match (from, to) {
            (IpAddr::V4(src), SocketAddr::V4(dst)) => {
                let pi = libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(src).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                let cmsgs = if src.is_unspecified() {
                    vec![]
                } else {
                    vec![ControlMessage::Ipv4PacketInfo(&pi)]
                };
                sendmsg(
                    fd,
                    &iov,
                    &cmsgs,
                    MsgFlags::empty(),
                    Some(&SockaddrIn::from(dst)),
                )
            }
            (IpAddr::V6(src), SocketAddr::V6(dst)) => {
                let pi = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: src.octets(),
                    },
                    ipi6_ifindex: 0,
                };
                let cmsgs = if src.is_unspecified() {
                    vec![]
                } else {
                    vec![ControlMessage::Ipv6PacketInfo(&pi)]
                };
                sendmsg(
                    fd,
                    &iov,
                    &cmsgs,
                    MsgFlags::empty(),
                    Some(&SockaddrIn6::from(dst)),
                )
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "source and destination families differ",
                ))
            }
        };
        let n = sent.map_err(io::Error::from)?;
        if n != marker.len() + bytes.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short send"));
        }
        Ok(())
    }
}

fn bind_error(e: nix::Error, family: Family, port: u16) -> io::Error {
    let fam = match family {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    };
    let hint = match e {
        nix::Error::EADDRINUSE => {
            " (another IKE daemon holds it: is charon or pluto running? `ss -lunp 'sport = :500'`)"
        }
        nix::Error::EACCES | nix::Error::EPERM => {
            " (ports below 1024 need root or CAP_NET_BIND_SERVICE; the systemd unit grants it)"
        }
        _ => "",
    };
    io::Error::new(
        io::Error::from(e).kind(),
        format!("cannot bind UDP port {port} ({fam}): {e}{hint}"),
    )
}

fn storage_to_std(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::new(v4.ip(), v4.port())));
    }
    a.as_sockaddr_in6().map(|v6| {
        SocketAddr::V6(SocketAddrV6::new(
            v6.ip(),
            v6.port(),
            v6.flowinfo(),
            v6.scope_id(),
        ))
    })
}

/// Bytes of received datagrams waiting for the daemon loop, with a ceiling
/// (`settings.receive_queue_bytes`): under a flood the queue holds at most that much, whatever
/// the datagrams' sizes, and what does not fit is dropped at the socket.
#[derive(Debug)]
pub struct QueueBudget {
    queued: std::sync::atomic::AtomicUsize,
    limit: std::sync::atomic::AtomicUsize,
}

impl QueueBudget {
    pub fn new(limit: usize) -> QueueBudget {
        QueueBudget {
            queued: std::sync::atomic::AtomicUsize::new(0),
            limit: std::sync::atomic::AtomicUsize::new(limit),
        }
    }

    /// A reload's new limit; what is queued stays and drains.
    pub fn set_limit(&self, limit: usize) {
        self.limit
            .store(limit, std::sync::atomic::Ordering::Release);
    }

    /// Reserves room for a datagram of `n` bytes; false if the queue is full.
    pub fn take(&self, n: usize) -> bool {
        use std::sync::atomic::Ordering;
        let limit = self.limit.load(Ordering::Acquire);
        self.queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                q.checked_add(n).filter(|t| *t <= limit)
            })
            .is_ok()
    }

    /// Gives back the room of a datagram the loop has taken off the queue.
    pub fn release(&self, n: usize) {
        use std::sync::atomic::Ordering;
        let _ = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                Some(q.saturating_sub(n))
            });
    }

    pub fn queued(&self) -> usize {
        self.queued.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// The sockets of one daemon: IKE port and NAT-T port, each for IPv4 and (if available) IPv6.
pub struct SocketSet {
    pub sockets: Vec<IkeSocket>,
}

impl SocketSet {
    pub fn open(port: u16, natt_port: u16) -> io::Result<SocketSet> {
        let mut sockets = Vec::new();
        for (p, natt) in [(port, false), (natt_port, true)] {
            sockets.push(IkeSocket::open(Family::V4, p, natt)?);
            match IkeSocket::open(Family::V6, p, natt) {
                Ok(s) => sockets.push(s),
                // A host (or namespace) without IPv6 still gets IPv4 service.
                Err(e)
                    if e.raw_os_error() == Some(libc::EAFNOSUPPORT)
                        || e.kind() == io::ErrorKind::AddrNotAvailable =>
                {
                    tracing::info!("IPv6 unavailable, IKE on IPv4 only: {e}");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(SocketSet { sockets })
    }

    /// The socket a datagram from local address `from` leaves through.
    pub fn for_local(&self, from: SocketAddr) -> Option<&IkeSocket> {
        let fam = Family::of(&from.ip());
        self.sockets
            .iter()
            .find(|s| s.family == fam && s.port == from.port())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn bind_errors_say_what_holds_the_port() {
        let e = bind_error(nix::Error::EADDRINUSE, Family::V4, 500).to_string();
        assert!(e.starts_with("cannot bind UDP port 500 (IPv4): "), "{e}");
        assert!(e.contains("is charon or pluto running?"), "{e}");
        let e = bind_error(nix::Error::EACCES, Family::V6, 500).to_string();
        assert!(e.contains("CAP_NET_BIND_SERVICE"), "{e}");
        let e = bind_error(nix::Error::EINVAL, Family::V4, 4500).to_string();
        assert!(
            !e.contains("charon") && !e.contains("CAP_"),
            "no hint for others: {e}"
        );
    }

    use super::*;

    /// Two sockets on loopback, one the NAT-T kind: the marker is added on send and stripped
    /// on receive, and the receiver learns the local address the datagram was sent to.
    #[tokio::test(flavor = "current_thread")]
    async fn natt_marker_and_pktinfo_round_trip() {
        let a = match IkeSocket::open(Family::V4, 0, false) {
            Ok(s) => s,
            Err(e) => panic!("open: {e}"),
        };
        let a_port = a.sock.local_addr().unwrap().port();
        let a = IkeSocket { port: a_port, ..a };
        let plain = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        plain
            .send_to(b"\x00\x00\x00\x00IKE", ("127.0.0.1", a_port))
            .unwrap();
        let r = a.recv().await.unwrap();
        assert_eq!(
            r.local,
            SocketAddr::new("127.0.0.1".parse().unwrap(), a_port)
        );
        assert_eq!(r.remote, plain.local_addr().unwrap());
        assert_eq!(
            r.bytes, b"\x00\x00\x00\x00IKE",
            "plain IKE socket keeps bytes as they are"
        );
        assert!(
            r.bytes.capacity() < 64,
            "a 7-byte datagram holds {} bytes of buffer",
            r.bytes.capacity()
        );

        a.send(
            "127.0.0.1".parse().unwrap(),
            plain.local_addr().unwrap(),
            b"reply",
        )
        .await
        .unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = plain.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"reply");
        assert_eq!(from.ip(), "127.0.0.1".parse::<IpAddr>().unwrap());

        let n = IkeSocket::open(Family::V4, 0, true).unwrap();
        let n_port = n.sock.local_addr().unwrap().port();
        let n = IkeSocket { port: n_port, ..n };
        plain
            .send_to(b"\x00\x00\x00\x00IKE", ("127.0.0.1", n_port))
            .unwrap();
        let r = n.recv().await.unwrap();
        assert_eq!(r.bytes, b"IKE", "marker stripped on the NAT-T socket");
        n.send(
            "127.0.0.1".parse().unwrap(),
            plain.local_addr().unwrap(),
            b"IKE",
        )
        .await
        .unwrap();
        let (len, _) = plain.recv_from(&mut buf).unwrap();
        assert_eq!(
            &buf[..len],
            b"\x00\x00\x00\x00IKE",
            "marker added on the NAT-T socket"
        );
    }

    #[test]
    fn queue_budget_counts_bytes_and_refuses_past_its_limit() {
        let b = QueueBudget::new(3000);
        assert!(b.take(1500));
        assert!(b.take(1500));
        assert!(!b.take(1), "full at 3000 bytes");
        assert_eq!(b.queued(), 3000);
        b.release(1500);
        assert!(b.take(1000));
        assert!(!b.take(usize::MAX), "no overflow");
        b.set_limit(2500);
        assert!(!b.take(1), "a lowered limit applies to what comes next");
        b.release(usize::MAX);
        assert_eq!(b.queued(), 0);
    }
}
