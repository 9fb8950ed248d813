//! The protocol core the driver runs, reached only through rswan-ike's daemon-facing
//! [`Endpoint`](rswan_ike::Endpoint) trait.
//!
//! Why a wrapper over "some type implementing the trait" rather than `Daemon<E: Endpoint>` or a
//! `Box<dyn Endpoint>`: one daemon will run IKEv1 and IKEv2 side by side on the same sockets, told
//! apart per datagram by the ISAKMP version octet, so the version cannot be a type parameter of the
//! daemon; and a trait object cannot be formed while the associated types (config, status, command,
//! event) still differ per version. When rswan-ikev1 lands, `Core` becomes a small enum of the two
//! cores whose methods route datagrams by version and everything else to both, without touching
//! the call sites in the driver. Until then it wraps the IKEv2 core alone.

use std::net::SocketAddr;
use std::time::Instant;

use rswan_ike::kernel::CounterQuery;
use rswan_ike::{Endpoint, Output};
use rswan_ikev2::output::KernelEvent;

pub(crate) struct Core<E>(E);

impl<E: Endpoint> Core<E> {
    pub fn new(inner: E) -> Self {
        Core(inner)
    }

    /// The IKEv2 core itself, for what is not part of the trait: the opt-in IKE key export.
    pub fn v2(&self) -> &E {
        &self.0
    }

    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) {
        self.0.handle_datagram(now, local, remote, bytes)
    }
    pub fn handle_kernel(&mut self, now: Instant, ev: KernelEvent) {
        self.0.handle_kernel(now, ev)
    }
    pub fn handle_command(&mut self, now: Instant, cmd: E::Command) {
        self.0.handle_command(now, cmd)
    }
    pub fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now)
    }
    pub fn poll_output(&mut self) -> Option<Output<E::Event>> {
        self.0.poll_output()
    }
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
    pub fn poll_counter_timeout(&self) -> Option<Instant> {
        self.0.poll_counter_timeout()
    }
    pub fn counter_poll(&mut self, now: Instant) -> Vec<CounterQuery> {
        self.0.counter_poll(now)
    }
    pub fn status(&self) -> E::Status {
        self.0.status()
    }
    pub fn reload(&mut self, now: Instant, config: E::Config) {
        self.0.reload(now, config)
    }
    pub fn set_wall_clock(&mut self, unix_secs: u64) {
        self.0.set_wall_clock(unix_secs)
    }
}
