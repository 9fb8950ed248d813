//! The daemon-facing surface of a protocol core: what the driver calls, whichever IKE version is
//! behind it. Datagrams, kernel events, commands and time go in through `handle_*`; datagrams to
//! send, kernel operations and events come out of [`Endpoint::poll_output`], and
//! [`Endpoint::poll_timeout`] says when to call [`Endpoint::handle_timeout`] next.

use std::net::SocketAddr;
use std::time::Instant;

use crate::kernel::{CounterQuery, KernelEvent, KernelOp};

/// One effect the driver has to perform. `E` is the core's event type.
#[derive(Debug)]
pub enum Output<E> {
    /// Send `bytes` from the local socket address `from` to `to`.
    Send {
        from: SocketAddr,
        to: SocketAddr,
        bytes: Vec<u8>,
    },
    /// Apply a kernel operation and answer with [`KernelEvent::OpResult`] carrying `token`.
    Kernel { token: u64, op: KernelOp },
    /// Something for the control plane: log, control socket, D-Bus.
    Event(E),
}

/// A sans-IO IKE core as the driver sees it.
///
/// The associated types are the parts that are still the IKEv2 core's own today. What the IKEv1
/// core (rswan-ikev1) will provide for them:
/// - `Config`: its connections (Main/Aggressive Mode, XAuth, Quick Mode proposals) next to IKEv2's;
///   the daemon's config loader builds both from one file, split by each connection's `version`.
/// - `Command`: the same operator requests (initiate, terminate IKE/child, liveness, shutdown);
///   IKEv2's `Command` is already version-neutral in content and may move here.
/// - `Status`: IKE SAs (ISAKMP SAs) and Child SAs (Quick Mode SAs) in the same status shape, so
///   `rswanctl status` lists both; the version becomes a field.
/// - `Event`: the same lifecycle events (IKE SA up/down, Child SA up/down, negotiation failed with
///   a reason); IKEv1-only reasons (e.g. XAuth failed) become variants of a shared reason type.
///
/// Until those are shared, the driver holds the IKEv2 core through this trait (see
/// `src/driver/protocol.rs`), and a v1/v2 dispatch enum implements it once IKEv1 exists.
pub trait Endpoint {
    type Config;
    type Command;
    type Status;
    type Event;

    /// A datagram that arrived on `local` from `remote` (IKE only: after the non-ESP marker on
    /// port 4500).
    fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    );
    /// The answer to an earlier [`Output::Kernel`], or a notification from the XFRM monitor.
    fn handle_kernel(&mut self, now: Instant, ev: KernelEvent);
    fn handle_command(&mut self, now: Instant, cmd: Self::Command);
    /// Time passed; called no later than [`Endpoint::poll_timeout`] asked.
    fn handle_timeout(&mut self, now: Instant);
    fn poll_output(&mut self) -> Option<Output<Self::Event>>;
    /// The earliest instant at which `handle_timeout` has something to do.
    fn poll_timeout(&self) -> Option<Instant>;
    /// When the core next wants kernel SA counters read (dead peer detection, NAT keepalives);
    /// kept apart from `poll_timeout` because the answer is a kernel read, not a protocol step.
    fn poll_counter_timeout(&self) -> Option<Instant>;
    /// The SAs whose counters to read now (empty before `poll_counter_timeout`); the driver
    /// answers each with [`KernelEvent::Counters`] and arms nothing itself.
    fn counter_poll(&mut self, now: Instant) -> Vec<CounterQuery>;
    fn status(&self) -> Self::Status;
    /// Replaces the configuration; SAs of connections that are gone are deleted.
    fn reload(&mut self, now: Instant, config: Self::Config);
    /// The current wall-clock time (seconds since the Unix epoch) for certificate validity; the
    /// core never reads a clock.
    fn set_wall_clock(&mut self, unix_secs: u64);
}
