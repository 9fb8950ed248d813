//! The IKEv2 core behind rswan-ike's daemon-facing [`Endpoint`](rswan_ike::Endpoint) trait: the
//! driver reaches it only through these calls, as it will reach the IKEv1 core.

use std::net::SocketAddr;
use std::time::Instant;

use crate::config::Config;
use crate::event::Event;
use crate::output::{Command, KernelEvent, Output};
use crate::rng::Rng;
use crate::sa::status::Status;
use rswan_ike::kernel::CounterQuery;

use super::Endpoint;

impl<R: Rng> rswan_ike::Endpoint for Endpoint<R> {
    type Config = Config;
    type Command = Command;
    type Status = Status;
    type Event = Event;

    fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) {
        Endpoint::handle_datagram(self, now, local, remote, bytes)
    }
    fn handle_kernel(&mut self, now: Instant, ev: KernelEvent) {
        Endpoint::handle_kernel(self, now, ev)
    }
    fn handle_command(&mut self, now: Instant, cmd: Command) {
        Endpoint::handle_command(self, now, cmd)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Endpoint::handle_timeout(self, now)
    }
    fn poll_output(&mut self) -> Option<Output> {
        Endpoint::poll_output(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Endpoint::poll_timeout(self)
    }
    fn poll_counter_timeout(&self) -> Option<Instant> {
        Endpoint::poll_counter_timeout(self)
    }
    fn counter_poll(&mut self, now: Instant) -> Vec<CounterQuery> {
        Endpoint::counter_poll(self, now)
    }
    fn status(&self) -> Status {
        Endpoint::status(self)
    }
    fn reload(&mut self, now: Instant, config: Config) {
        Endpoint::reload(self, now, config)
    }
    fn set_wall_clock(&mut self, unix_secs: u64) {
        Endpoint::set_wall_clock(self, unix_secs)
    }
}
