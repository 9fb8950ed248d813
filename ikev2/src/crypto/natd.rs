use std::net::{IpAddr, SocketAddr};

use ring::digest;

/// NAT_DETECTION_*_IP notification data: SHA-1(SPIi | SPIr | IP | Port) (RFC 7296 section 2.23).
/// In IKE_SA_INIT requests SPIr is all zeros.
pub fn natd_hash(spi_i: &[u8; 8], spi_r: &[u8; 8], addr: SocketAddr) -> [u8; 20] {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(spi_i);
    ctx.update(spi_r);
    match addr.ip() {
        IpAddr::V4(ip) => ctx.update(&ip.octets()),
        IpAddr::V6(ip) => ctx.update(&ip.octets()),
    }
    ctx.update(&addr.port().to_be_bytes());
    let mut out = [0u8; 20];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}
