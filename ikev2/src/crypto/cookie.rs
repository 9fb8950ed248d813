//! Stateless cookies against half-open SA floods (RFC 7296 section 2.6):
//! Cookie = <VersionIDofSecret> | Hash(Ni | IPi | port | SPIi | <secret>), here with SHA-256.
//! The source port is bound too: a cookie obtained once cannot open SAs from other ports of the
//! same address (a replay that would otherwise multiply half-open state).

use std::net::SocketAddr;

use ring::digest;

use crate::rng::Rng;

use super::{ct_eq, Secret};

/// Length of the cookies this generator makes: one version octet and a SHA-256 hash.
pub const COOKIE_LEN: usize = 33;

const SECRET_LEN: usize = 32;

/// The responder's cookie secret. Rotate it periodically; cookies made with the previous secret
/// still verify until the next rotation, so a rotation does not fail initiators mid-exchange.
pub struct CookieJar {
    version: u8,
    secret: Secret,
    previous: Option<(u8, Secret)>,
}

impl CookieJar {
    pub fn new(rng: &mut dyn Rng) -> CookieJar {
        CookieJar {
            version: 0,
            secret: fresh_secret(rng),
            previous: None,
        }
    }

    pub fn rotate(&mut self, rng: &mut dyn Rng) {
        let old = core::mem::replace(&mut self.secret, fresh_secret(rng));
        self.previous = Some((self.version, old));
        self.version = self.version.wrapping_add(1);
    }

    /// The COOKIE notification data to send for this initiator.
    pub fn cookie(&self, ni: &[u8], from: SocketAddr, spi_i: &[u8; 8]) -> [u8; COOKIE_LEN] {
        make(self.version, &self.secret, ni, from, spi_i)
    }

    /// Whether the COOKIE the initiator returned is one we made for these Ni, IPi and SPIi.
    pub fn verify(&self, cookie: &[u8], ni: &[u8], from: SocketAddr, spi_i: &[u8; 8]) -> bool {
        let Some(&version) = cookie.first() else {
            return false;
        };
        let secret = if version == self.version {
            &self.secret
        } else {
            match &self.previous {
                Some((v, s)) if *v == version => s,
                _ => return false,
            }
        };
        ct_eq(&make(version, secret, ni, from, spi_i), cookie)
    }
}

fn fresh_secret(rng: &mut dyn Rng) -> Secret {
    let mut s = Secret::zeroed(SECRET_LEN);
    rng.fill(s.as_mut_bytes());
    s
}

fn make(
    version: u8,
    secret: &Secret,
    ni: &[u8],
    from: SocketAddr,
    spi_i: &[u8; 8],
) -> [u8; COOKIE_LEN] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(ni);
    match from.ip() {
        std::net::IpAddr::V4(ip) => ctx.update(&ip.octets()),
        std::net::IpAddr::V6(ip) => ctx.update(&ip.octets()),
    }
    ctx.update(&from.port().to_be_bytes());
    ctx.update(spi_i);
    ctx.update(secret.as_bytes());
    let mut out = [0u8; COOKIE_LEN];
    out[0] = version;
    out[1..].copy_from_slice(ctx.finish().as_ref());
    out
}
