//! The daemon: a thin tokio loop around the sans-IO core. Datagrams, kernel notifications,
//! control requests, signals and the core's next deadlines come in; the core's outputs (datagrams,
//! kernel operations, events, the ESP counters it wants read) go out. Protocol behaviour (what to
//! send, when to probe, rekey or give up) is the core's; what the driver decides itself is the
//! daemon's own policy around it: start actions and keyingtries, trap policies, close_action and
//! dpd_action=trap, control and status requests, log rate limits.

pub mod core_config;
mod diagnose_view;
pub mod dumpable;
pub mod kernel;
mod keylog;
mod log_limit;
pub mod logging;
mod netns_lock;
pub mod notify;
mod protocol;
pub mod sockets;
mod starts;
mod status_view;
mod trap;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{broadcast, mpsc, oneshot};

use rswan_ikev2::consts::NotifyType;
use rswan_ikev2::endpoint::Endpoint;
use rswan_ikev2::event::{DownReason, Event, FailureReason, LogLevel as CoreLevel};
use rswan_ikev2::output::{Command, KernelEvent as CoreKernelEvent, Output};
use rswan_ikev2::proposal::ProposalSet;
use rswan_ikev2::rng::Rng;
use rswan_xfrm::{AsyncMonitor, KernelEvent as XfrmEvent, Monitor, NetlinkKernel};

use rswan_ikev2::config::Mode as CoreMode;
use rswan_ikev2::output::{Direction as CoreDirection, PolicySpec};
use rswan_ikev2::sa::status::ChildStatusState;
use rswan_ikev2::wire::TrafficSelector;

use crate::config::values::TsSpec;
use crate::config::{self, Action, Config, Mode};
use crate::control::access::AccessPolicy;
use crate::control::protocol::{LogRecord, Outcome, Request};
use crate::control::server::{self, ControlRequest, SocketFile};
use kernel::KernelBridge;
use netns_lock::NetnsLock;
use notify::Notifier;
use protocol::Core;
use sockets::{QueueBudget, Received, SocketSet};

/// Core-side reqids of trap policies (mapped into rswan-xfrm's owned range like all others).
const TRAP_REQID_BASE: u32 = 0xf000;

/// Command-line options of rswand.
#[derive(Clone, Debug)]
pub struct Options {
    pub config: PathBuf,
    pub socket: PathBuf,
    /// IKE port and NAT-T port (strongswan.conf `port`, `port_nat_t`).
    pub port: u16,
    pub natt_port: u16,
}

/// Randomness for the core from the operating system.
pub struct OsRng;

impl Rng for OsRng {
    fn fill(&mut self, dest: &mut [u8]) {
        // The core cannot work without randomness; a failing getrandom(2) is not recoverable.
        if let Err(e) = getrandom::getrandom(dest) {
            panic!("getrandom failed: {e}");
        }
    }
}

/// An `up` or `down` waiting for the event that settles it.
struct Waiter {
    kind: WaitKind,
    conn: String,
    child: Option<String>,
    deadline: Instant,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WaitKind {
    Up,
    Down,
}

enum Input {
    Datagram(Received),
    Kernel(XfrmEvent),
    Control(ControlRequest),
    Reload,
    Shutdown,
    Timeout,
}

struct Daemon {
    opts: Options,
    config: Config,
    ep: Core<Endpoint<OsRng>>,
    kernel: KernelBridge<NetlinkKernel>,
    sockets: Arc<SocketSet>,
    waiters: Vec<Waiter>,
    started: Instant,
    notifier: Notifier,
    /// Failures and IKE traffic per connection/peer, for `rswanctl diagnose`.
    memory: crate::diagnose::memory::Memory,
    /// Diagnoses waiting for their second counter sample.
    diagnoses: Vec<diagnose_view::Pending>,
    /// Children trapped after the peer closed them or was lost (close_action/dpd_action=trap).
    extra_traps: std::collections::HashSet<(String, String)>,
    /// Children to negotiate (start_action/close_action=start), with keyingtries.
    starts: starts::Starts,
    /// Wireshark key tables (settings.key_export, `rswanctl export-keys`).
    keylog: keylog::KeyLog,
    /// Summarises log lines about unauthenticated traffic instead of writing one per packet.
    log_limit: log_limit::LogLimiter,
    /// Source of the datagram whose outputs are being performed (events of the core's
    /// IKE_SA_INIT responder do not all name it).
    datagram_from: Option<SocketAddr>,
    /// Bytes of datagrams between the socket tasks and the loop (settings.receive_queue_bytes).
    budget: Arc<QueueBudget>,
    /// Who may do what on the control socket; follows the configuration on reload.
    access: tokio::sync::watch::Sender<AccessPolicy>,
}

fn access_policy(c: &Config) -> AccessPolicy {
    AccessPolicy {
        admin_group: c.settings.admin_group.clone(),
        key_export: c.settings.key_export.is_some(),
    }
}

/// Runs the daemon until SIGTERM/SIGINT. Errors are startup failures, said in one line.
pub async fn run(opts: Options, logs: broadcast::Sender<LogRecord>) -> Result<(), String> {
    let notifier = Notifier::from_env();
    let config = config::load(&opts.config).map_err(|e| e.to_string())?;
    let mut core_cfg =
        core_config::to_core(&config).map_err(|e| format!("{}: {e}", opts.config.display()))?;
    // The core floats IKE to, and builds ESP-in-UDP SAs on, the port we actually listen on.
    core_cfg.settings.natt.port = opts.natt_port;
    let netlink =
        NetlinkKernel::open().map_err(|e| format!("cannot open XFRM netlink socket: {e}"))?;
    let sockets = Arc::new(SocketSet::open(opts.port, opts.natt_port).map_err(|e| e.to_string())?);
    let listener = server::bind(&opts.socket).map_err(|e| format!("control socket: {e}"))?;
    let _socket_file = SocketFile(opts.socket.clone());

    let (in_tx, mut in_rx) = mpsc::channel::<Input>(1024);
    let budget = Arc::new(QueueBudget::new(
        usize::try_from(config.settings.receive_queue_bytes).unwrap_or(usize::MAX),
    ));
    spawn_receivers(&sockets, &in_tx, &budget);
    spawn_kernel_monitor(&in_tx);
    let access_tx = spawn_control(listener, &logs, &config, &in_tx);
    spawn_signals(in_tx.clone()).map_err(|e| format!("signal handlers: {e}"))?;

    let now = Instant::now();
    let ep = Core::new(Endpoint::new(core_cfg, OsRng));
    let log_limit = log_limit::LogLimiter::from_settings(&config.settings);
    let mut bridge = KernelBridge::new(netlink);
    let _netns_lock = take_netns_lock(&mut bridge);
    let mut d = Daemon {
        opts,
        config,
        ep,
        kernel: bridge,
        sockets,
        waiters: Vec::new(),
        started: now,
        notifier,
        memory: Default::default(),
        diagnoses: Vec::new(),
        extra_traps: Default::default(),
        starts: Default::default(),
        keylog: keylog::KeyLog::default(),
        log_limit,
        datagram_from: None,
        access: access_tx,
        budget: budget.clone(),
    };
    d.keylog = keylog::KeyLog::new(d.config.settings.key_export.clone());
    tracing::info!(
        config = %d.opts.config.display(),
        socket = %d.opts.socket.display(),
        "rswand {} started: {} connection(s), IKE on UDP {} and {}",
        env!("CARGO_PKG_VERSION"),
        d.config.connections.len(),
        d.opts.port,
        d.opts.natt_port
    );
    let s = &d.config.settings;
    kernel::set_hash_thresholds(d.kernel.kernel_mut(), s.spdh_thresh_v4, s.spdh_thresh_v6);
    d.sync_traps();
    d.start_actions(now, None).await;
    d.notifier.ready(&d.summary());

    d.serve(&mut in_rx, &budget).await;
    d.shutdown().await;
    Ok(())
}

/// One task per UDP socket: datagrams into the input queue while the receive budget allows.
fn spawn_receivers(
    sockets: &Arc<SocketSet>,
    in_tx: &mpsc::Sender<Input>,
    budget: &Arc<QueueBudget>,
) {
    for i in 0..sockets.sockets.len() {
        let (socks, tx, budget) = (sockets.clone(), in_tx.clone(), budget.clone());
        tokio::spawn(async move {
            let Some(s) = socks.sockets.get(i) else {
                return;
            };
            let mut dropped = DropCount::default();
            loop {
                match s.recv().await {
                    Ok(r) => {
                        if !budget.take(r.bytes.len()) {
                            dropped.note(s.port, budget.queued());
                            continue;
                        }
                        if tx.send(Input::Datagram(r)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!("receive on UDP port {} failed: {e}", s.port);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
    }
}

/// Kernel monitor events (acquires, expiries) into the input queue; without the monitor only
/// traps and lifetime expiry are lost, so the daemon runs on.
fn spawn_kernel_monitor(in_tx: &mpsc::Sender<Input>) {
    match Monitor::open().and_then(AsyncMonitor::new) {
        Ok(mut mon) => {
            let tx = in_tx.clone();
            tokio::spawn(async move {
                loop {
                    match mon.next().await {
                        Ok(ev) => {
                            if tx.send(Input::Kernel(ev)).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!("kernel monitor: {e}");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            });
        }
        Err(e) => tracing::warn!(
            "kernel monitor unavailable ({e}): no on-demand (trap) tunnels or lifetime expiry"
        ),
    }
}

/// The control socket server and the task that forwards its requests into the input queue; the
/// returned sender updates who may use the socket on reload.
fn spawn_control(
    listener: tokio::net::UnixListener,
    logs: &broadcast::Sender<LogRecord>,
    config: &Config,
    in_tx: &mpsc::Sender<Input>,
) -> tokio::sync::watch::Sender<AccessPolicy> {
    let (ctl_tx, mut ctl_rx) = mpsc::channel::<ControlRequest>(64);
    let (access_tx, access_rx) = tokio::sync::watch::channel(access_policy(config));
    tokio::spawn(server::serve(listener, ctl_tx, logs.clone(), access_rx));
    {
        let tx = in_tx.clone();
        tokio::spawn(async move {
            while let Some(r) = ctl_rx.recv().await {
                if tx.send(Input::Control(r)).await.is_err() {
                    return;
                }
            }
        });
    }
    access_tx
}

/// Held for the daemon's life: rswan-owned state in this namespace is then ours to remove
/// (what a dead rswand left) unless another live rswand holds the lock.
fn take_netns_lock(
    bridge: &mut KernelBridge<NetlinkKernel>,
) -> Option<nix::fcntl::Flock<std::fs::File>> {
    match netns_lock::take(Path::new(netns_lock::LOCK_DIR)) {
        NetnsLock::Held(l) => {
            recover_kernel_state(bridge);
            Some(l)
        }
        NetnsLock::Busy(path) => {
            tracing::warn!(
                "another rswand runs in this network namespace ({} is locked): leaving the \
                 rswan SAs and policies in the kernel alone (run one rswand per namespace)",
                path.display()
            );
            None
        }
        NetnsLock::Unavailable(why) => {
            tracing::warn!("no network namespace lock ({why}): assuming no other rswand runs here");
            recover_kernel_state(bridge);
            None
        }
    }
}

impl Daemon {
    /// The event loop: one input (or the next deadline) at a time until shutdown.
    async fn serve(&mut self, in_rx: &mut mpsc::Receiver<Input>, budget: &QueueBudget) {
        loop {
            let deadline = self.next_deadline();
            let input = tokio::select! {
                i = in_rx.recv() => match i { Some(i) => i, None => Input::Shutdown },
                _ = sleep_until(deadline) => Input::Timeout,
            };
            let now = Instant::now();
            // Certificate validity is judged against wall-clock time, which only the driver reads.
            self.ep.set_wall_clock(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |t| t.as_secs()),
            );
            match input {
                Input::Datagram(r) => {
                    budget.release(r.bytes.len());
                    self.memory.received(now, r.remote, r.local.port());
                    self.datagram_from = Some(r.remote);
                    self.ep.handle_datagram(now, r.local, r.remote, &r.bytes)
                }
                Input::Kernel(ev) => self.kernel_event(now, ev),
                Input::Control(c) => self.control(now, c).await,
                Input::Reload => {
                    let r = self.reload(now).await;
                    if let Err(e) = r {
                        tracing::error!("reload failed, keeping the running configuration: {e}");
                    }
                }
                Input::Timeout => {
                    self.feed_counters(now);
                    self.ep.handle_timeout(now);
                }
                Input::Shutdown => break,
            }
            self.flush(now).await;
            self.datagram_from = None;
            for s in self.log_limit.expire(now) {
                log_summary(&s);
            }
            self.expire_waiters(now);
            self.finish_diagnoses(now);
        }
    }
}

/// Datagrams dropped at one socket because the receive queue was full: said once when it
/// starts and then at most every 10 s with the count, never once per datagram.
#[derive(Default)]
struct DropCount {
    since_report: u64,
    last_report: Option<Instant>,
}

impl DropCount {
    fn note(&mut self, port: u16, queued: usize) {
        self.since_report = self.since_report.saturating_add(1);
        let now = Instant::now();
        if self
            .last_report
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(10))
        {
            return;
        }
        tracing::warn!(
            "receive queue full ({queued} bytes waiting, settings.receive_queue_bytes): dropped {} datagram(s) on UDP {port}",
            self.since_report
        );
        self.since_report = 0;
        self.last_report = Some(now);
    }
}

/// Removes the SAs and policies a killed rswand left in the kernel (rswan's reqid range), and
/// says how many. A failure is logged, not fatal: leftover policies are then replaced one by one
/// as the same selectors are installed again.
fn recover_kernel_state(bridge: &mut KernelBridge<NetlinkKernel>) {
    match bridge.recover() {
        Ok(r) if r.sas == 0 && r.policies == 0 => {
            tracing::info!("no SAs or policies of an earlier rswand in the kernel")
        }
        Ok(r) => tracing::warn!(
            "found {} SAs and {} policies of an earlier rswand in the kernel (reqids {:#x}-{:#x}), \
             probably after a crash: removed them",
            r.sas,
            r.policies,
            rswan_xfrm::ownership::REQID_BASE,
            rswan_xfrm::ownership::REQID_BASE + (rswan_xfrm::ownership::REQID_COUNT - 1)
        ),
        Err(e) => tracing::error!(
            "cannot remove the SAs and policies of an earlier rswand: {e}; \
             policies left from it are replaced as they are installed again"
        ),
    }
}

fn spawn_signals(tx: mpsc::Sender<Input>) -> std::io::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        loop {
            let input = tokio::select! {
                _ = hup.recv() => Input::Reload,
                _ = term.recv() => Input::Shutdown,
                _ = int.recv() => Input::Shutdown,
            };
            let stop = matches!(input, Input::Shutdown);
            if tx.send(input).await.is_err() || stop {
                return;
            }
        }
    });
    Ok(())
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

impl Daemon {
    fn summary(&self) -> String {
        let st = self.ep.status();
        let ike = st
            .connections
            .iter()
            .map(|c| c.ike_sas.len())
            .sum::<usize>();
        let child = st
            .connections
            .iter()
            .flat_map(|c| &c.ike_sas)
            .map(|s| s.children.len())
            .sum::<usize>();
        format!(
            "{} connections, {ike} IKE SAs, {child} Child SAs",
            self.config.connections.len()
        )
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.ep.poll_timeout(),
            self.waiters.iter().map(|w| w.deadline).min(),
            self.ep.poll_counter_timeout(),
            self.diagnoses.iter().map(|p| p.deadline).min(),
            self.log_limit.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Reads the counters of the SAs the core asks for, when it asks (it decides which and how
    /// often: dead peer detection and NAT keepalives), and hands them back.
    fn feed_counters(&mut self, now: Instant) {
        for q in self.ep.counter_poll(now) {
            if let Some(c) = self.kernel.counters(q.dst, q.spi) {
                self.ep.handle_kernel(
                    now,
                    CoreKernelEvent::Counters {
                        dst: q.dst,
                        spi: q.spi,
                        bytes: c.bytes,
                        packets: c.packets,
                    },
                );
            }
        }
    }

    /// Performs every output the core has queued, feeding kernel results straight back.
    ///
    /// Waiters are settled only once the queue is empty: the core announces a Child SA before the
    /// results of its kernel operations come back, so a failure can follow the "up" event within
    /// the same batch, and then the failure is the outcome.
    async fn flush(&mut self, now: Instant) {
        let mut outcomes: Vec<(usize, Outcome)> = Vec::new();
        // In batches of what is queued (outputs caused by a batch queue up behind it, so the
        // order is the core's): trap.rs looks at a whole batch before it is performed.
        loop {
            let batch: Vec<Output> = std::iter::from_fn(|| self.ep.poll_output()).collect();
            if batch.is_empty() {
                if self.issue_starts(now) {
                    continue;
                }
                break;
            }
            let after = self.before_batch(&batch);
            for out in batch {
                self.perform(now, out, &mut outcomes).await;
            }
            self.after_batch(after);
        }
        self.keylog.ike_sas(self.ep.v2());
        self.settle(outcomes);
    }

    async fn perform(&mut self, now: Instant, out: Output, outcomes: &mut Vec<(usize, Outcome)>) {
        match out {
            Output::Send { from, to, bytes } => {
                self.memory
                    .sent(now, to, diagnose_view::expects_reply(&bytes));
                self.send(now, from, to, &bytes).await
            }
            Output::Kernel { token, op } => {
                self.keylog.kernel_op(&op);
                let result = self.kernel.apply(&op);
                if let Err(e) = &result {
                    // The core turns this into a NegotiationFailed / ChildSaDown event,
                    // which is the line the operator needs; this one is for debugging.
                    tracing::debug!("kernel operation failed: {e}");
                }
                self.ep
                    .handle_kernel(now, CoreKernelEvent::OpResult { token, result });
            }
            Output::Event(ev) => {
                let line = describe(&ev, &self.config);
                self.remember(now, &ev, &line);
                let show = match log_limit::topic(&ev, self.datagram_from) {
                    Some((topic, source)) => {
                        let (show, ended) = self.log_limit.admit(now, topic, source, ev.level());
                        if let Some(s) = ended {
                            log_summary(&s);
                        }
                        show
                    }
                    None => true,
                };
                if show {
                    log_event(&ev, &line);
                }
                self.starts.observe(&ev);
                for (i, w) in self.waiters.iter().enumerate() {
                    if let Some(o) = settles(w, &ev, &self.config) {
                        outcomes.push((i, o));
                    }
                }
            }
        }
    }

    /// Settles waiters once the queue is empty (see `flush`).
    fn settle(&mut self, outcomes: Vec<(usize, Outcome)>) {
        let mut done: Vec<(usize, Outcome)> = Vec::new();
        for (i, o) in outcomes {
            match done.iter_mut().find(|(j, _)| *j == i) {
                Some((_, prev)) => {
                    if matches!(prev, Outcome::Ok { .. }) {
                        *prev = o;
                    }
                }
                None => done.push((i, o)),
            }
        }
        done.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
        for (i, o) in done {
            let w = self.waiters.remove(i);
            let _ = w.reply.send(o);
        }
    }

    /// Sends one datagram. Failures are rate-limited like other per-packet lines: answers to
    /// spoofed sources fail (no route, ICMP errors) once per packet of a flood.
    async fn send(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        let sockets = self.sockets.clone();
        // The reason (the local address or the OS error) is what the summary groups by.
        let (line, reason) = match sockets.for_local(from) {
            None => (
                format!("no socket for local address {from}; datagram dropped"),
                format!("no socket for local address {from}"),
            ),
            Some(sock) => match sock.send(from.ip(), to, bytes).await {
                Ok(()) => return,
                Err(e) => (format!("send from {from} failed: {e}"), e.to_string()),
            },
        };
        let topic = log_limit::Topic {
            verb: "could not send",
            noun: "datagrams".to_owned(),
            reason,
        };
        let (show, ended) = self
            .log_limit
            .admit(now, topic, Some(to.ip()), CoreLevel::Warn);
        if let Some(s) = ended {
            log_summary(&s);
        }
        if show {
            tracing::warn!(peer = %to, "{line}");
        }
    }

    /// Failure memory for `diagnose`: the last failure per connection and per peer address;
    /// a connection that comes up forgets its failure (it no longer explains anything).
    fn remember(&mut self, now: Instant, ev: &Event, line: &str) {
        match ev {
            Event::NegotiationFailed { conn, peer, reason } => {
                self.memory
                    .failure(crate::diagnose::memory::FailureMemo::new(
                        now,
                        conn.clone(),
                        *peer,
                        reason,
                        line.to_owned(),
                    ))
            }
            Event::IkeSaUp { conn, remote, .. } => self.memory.clear_conn(conn, remote.ip()),
            _ => {}
        }
    }

    /// Answers the diagnoses whose second sample is due.
    fn finish_diagnoses(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.diagnoses.len() {
            if self.diagnoses[i].deadline <= now {
                let p = self.diagnoses.remove(i);
                let d = diagnose_view::build(self, now, &p.conn, Some(&p.first));
                let _ = p.reply.send(Outcome::Ok {
                    data: serde_json::to_value(d).unwrap_or_default(),
                });
            } else {
                i += 1;
            }
        }
    }

    fn expire_waiters(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.waiters.len() {
            if self.waiters[i].deadline <= now {
                let w = self.waiters.remove(i);
                let what = match w.kind {
                    WaitKind::Up => "no outcome",
                    WaitKind::Down => "no confirmation",
                };
                let _ = w.reply.send(Outcome::Error {
                    message: format!("{}: {what} before the timeout; the negotiation continues in the background", target(&w.conn, &w.child)),
                });
            } else {
                i += 1;
            }
        }
    }

    fn kernel_event(&mut self, now: Instant, ev: XfrmEvent) {
        match ev {
            XfrmEvent::Acquire {
                reqid: Some(reqid),
                src,
                dst,
                seq,
                ..
            } => match self.trap_owner(reqid) {
                Some((conn, child)) if self.child_active(&conn, &child) => {
                    tracing::debug!(conn = %conn, child = %child, "acquire {seq} while the Child SA is up or coming up: ignored");
                }
                Some((conn, child)) => {
                    self.kernel.note_acquire(reqid, seq);
                    tracing::info!(conn = %conn, child = %child, peer = %dst, "traffic from {src} needs the tunnel: initiating");
                    self.ep.handle_command(
                        now,
                        Command::Initiate {
                            conn,
                            child: Some(child),
                        },
                    );
                }
                None => tracing::debug!("acquire for reqid {reqid:#x} that is not a trap of ours"),
            },
            XfrmEvent::Expire { id, hard, .. } => {
                tracing::info!(
                    spi = format_args!("{:08x}", id.spi),
                    hard,
                    "kernel SA lifetime expired"
                );
                // Soft: the core rekeys now; hard: the kernel already removed the SA.
                self.ep.handle_kernel(
                    now,
                    CoreKernelEvent::Expire {
                        dst: id.dst,
                        spi: id.spi,
                        hard,
                    },
                );
            }
            XfrmEvent::Mapping { id, old, new, .. } => {
                tracing::info!(
                    spi = format_args!("{:08x}", id.spi),
                    "peer's NAT mapping changed from {old} to {new}"
                );
                self.ep.handle_kernel(
                    now,
                    CoreKernelEvent::Mapping {
                        dst: id.dst,
                        spi: id.spi,
                        old,
                        new,
                    },
                );
            }
            other => tracing::trace!("kernel event {other:?}"),
        }
    }

    /// The trap policies this daemon installed, by kernel reqid.
    fn trap_owner(&self, reqid: u32) -> Option<(String, String)> {
        self.traps()
            .into_iter()
            .find(|t| kernel::kernel_reqid(t.0) == reqid)
            .map(|t| (t.1, t.2))
    }

    /// (core-side reqid, conn, child) of every child with start_action=trap. Trap reqids live
    /// at the top of the core's range, far above the ones it numbers Child SAs with.
    fn traps(&self) -> Vec<(u32, String, String)> {
        let mut out = Vec::new();
        let mut n = TRAP_REQID_BASE;
        for c in &self.config.connections {
            for ch in &c.children {
                if ch.start_action == Action::Trap
                    || self
                        .extra_traps
                        .contains(&(c.name.clone(), ch.name.clone()))
                {
                    out.push((n, c.name.clone(), ch.name.clone()));
                }
                n += 1;
            }
        }
        out
    }

    /// Installs (or, after a reload, adjusts) the trap policies of start_action=trap children.
    fn sync_traps(&mut self) {
        let mut specs = Vec::new();
        for (reqid, conn, child) in self.traps() {
            let Some(c) = self.config.connection(&conn) else {
                continue;
            };
            let Some(ch) = c.child(&child) else { continue };
            let (Some(l), Some(r)) = (c.local_host(), c.remote_host()) else {
                tracing::warn!(conn = %conn, "start_action=trap for {conn}/{child} needs one local and one remote address; not installed");
                continue;
            };
            let resolve = |list: &[TsSpec], own| -> Vec<TrafficSelector> {
                list.iter()
                    .filter_map(|t| match t {
                        TsSpec::Dynamic => Some(TrafficSelector::host(own)),
                        TsSpec::Fixed(f) => TrafficSelector::new(
                            f.protocol,
                            (f.port_start, f.port_end),
                            f.start,
                            f.end,
                        )
                        .ok(),
                    })
                    .collect()
            };
            for lt in resolve(&ch.local_ts, l) {
                for rt in resolve(&ch.remote_ts, r) {
                    if lt.is_ipv4() != rt.is_ipv4() {
                        continue;
                    }
                    specs.push(PolicySpec {
                        src: lt,
                        dst: rt,
                        direction: CoreDirection::Out,
                        reqid,
                        mode: match ch.mode {
                            Mode::Tunnel => CoreMode::Tunnel,
                            Mode::Transport => CoreMode::Transport,
                        },
                        tmpl_src: l,
                        tmpl_dst: r,
                    });
                }
            }
        }
        let n = specs.len();
        for e in self.kernel.set_traps(&specs) {
            tracing::warn!("trap policy: {e}");
        }
        if n > 0 {
            tracing::info!("{n} trap policies installed (start_action=trap)");
        }
    }

    /// Applies start_action for the connections in `only` (all when `None`); keyingtries are
    /// counted in starts.rs.
    async fn start_actions(&mut self, now: Instant, only: Option<&[String]>) {
        let mut initiate = Vec::new();
        for c in &self.config.connections {
            if only.is_some_and(|o| !o.contains(&c.name)) {
                continue;
            }
            for ch in &c.children {
                if ch.start_action == Action::Start {
                    initiate.push((c.name.clone(), ch.name.clone()));
                }
            }
        }
        for (conn, child) in initiate {
            tracing::info!(conn = %conn, child = %child, "start_action=start: initiating");
            self.queue_start(&conn, Some(child));
        }
        self.flush(now).await;
    }

    async fn reload(&mut self, now: Instant) -> Result<String, String> {
        self.notifier.reloading();
        let result = async {
            let new = config::load(&self.opts.config).map_err(|e| e.to_string())?;
            let mut core_cfg = core_config::to_core(&new)
                .map_err(|e| format!("{}: {e}", self.opts.config.display()))?;
            core_cfg.settings.natt.port = self.opts.natt_port;
            let changed: Vec<String> = new
                .connections
                .iter()
                .filter(|c| self.config.connection(&c.name) != Some(*c))
                .map(|c| c.name.clone())
                .collect();
            let removed: Vec<String> = self
                .config
                .connections
                .iter()
                .filter(|c| new.connection(&c.name).is_none())
                .map(|c| c.name.clone())
                .collect();
            self.ep.reload(now, core_cfg);
            // A changed connection's SAs were negotiated with the old parameters: close them so
            // the new ones apply (start_action below brings them back). Unchanged ones are left
            // alone entirely.
            for name in &changed {
                if self.config.connection(name).is_some() {
                    tracing::info!(conn = %name, "configuration changed: closing its SAs");
                    self.ep
                        .handle_command(now, Command::TerminateIke { conn: name.clone() });
                }
            }
            let (s, n) = (&self.config.settings, &new.settings);
            if (s.spdh_thresh_v4, s.spdh_thresh_v6) != (n.spdh_thresh_v4, n.spdh_thresh_v6) {
                let k = self.kernel.kernel_mut();
                kernel::set_hash_thresholds(k, n.spdh_thresh_v4, n.spdh_thresh_v6);
            }
            self.log_limit.configure(&new.settings);
            self.config = new;
            for name in changed.iter().chain(&removed) {
                self.starts.forget(name);
                self.extra_traps.retain(|(c, _)| c != name);
            }
            self.keylog.set_dir(self.config.settings.key_export.clone());
            self.access.send_replace(access_policy(&self.config));
            self.budget.set_limit(
                usize::try_from(self.config.settings.receive_queue_bytes).unwrap_or(usize::MAX),
            );
            Ok::<_, String>((changed, removed))
        }
        .await;
        let msg = match result {
            Ok((changed, removed)) => {
                self.flush(now).await;
                self.sync_traps();
                self.start_actions(now, Some(&changed)).await;
                let msg = format!(
                    "configuration reloaded: {} connection(s); changed or new: {}; removed: {}",
                    self.config.connections.len(),
                    list_or_none(&changed),
                    list_or_none(&removed)
                );
                tracing::info!("{msg}");
                Ok(msg)
            }
            Err(e) => Err(e),
        };
        self.notifier.status(&self.summary());
        msg
    }

    async fn control(&mut self, now: Instant, c: ControlRequest) {
        let ControlRequest { request, reply } = c;
        match request {
            Request::Status | Request::ListSas => {
                let status = status_view::build(self, now, matches!(request, Request::ListSas));
                let _ = reply.send(Outcome::Ok {
                    data: serde_json::to_value(status).unwrap_or_default(),
                });
            }
            Request::ListConns => {
                let conns: Vec<serde_json::Value> = self
                    .config
                    .connections
                    .iter()
                    .map(|c| serde_json::to_value(c).unwrap_or_default())
                    .collect();
                let _ = reply.send(Outcome::Ok {
                    data: serde_json::json!({ "connections": conns }),
                });
            }
            Request::Up {
                conn,
                child,
                timeout,
            } => self.control_up(now, conn, child, timeout, reply),
            Request::Down { conn, child } => self.control_down(now, conn, child, reply),
            Request::Reload => {
                let outcome = match self.reload(now).await {
                    Ok(msg) => Outcome::Ok {
                        data: serde_json::Value::String(msg),
                    },
                    Err(e) => {
                        // In the daemon's log too: the journal is where an operator looks later.
                        tracing::error!("reload failed, keeping the running configuration: {e}");
                        Outcome::Error {
                            message: format!("reload failed, running configuration kept: {e}"),
                        }
                    }
                };
                let _ = reply.send(outcome);
            }
            Request::Diagnose { conn, sample_ms } => {
                self.control_diagnose(now, conn, sample_ms, reply)
            }
            // The control server already refused it without key_export; this keeps it so if a
            // reload turned key export off between the check and here.
            Request::ExportKeys if self.config.settings.key_export.is_none() => {
                let _ = reply.send(Outcome::Error {
                    message: "export-keys is off: it needs settings.key_export".into(),
                });
            }
            Request::ExportKeys => keylog::export(self, reply),
            // Served by the control server itself.
            Request::Log { .. } => {
                let _ = reply.send(Outcome::Error {
                    message: "log is served by the control socket".into(),
                });
            }
        }
    }

    /// `up`: initiate unless already installed; the reply waits for the outcome.
    fn control_up(
        &mut self,
        now: Instant,
        conn: String,
        child: Option<String>,
        timeout: Option<u64>,
        reply: oneshot::Sender<Outcome>,
    ) {
        if let Err(e) = self.check_target(&conn, child.as_deref()) {
            let _ = reply.send(Outcome::Error { message: e });
            return;
        }
        let child = child.or_else(|| {
            self.config
                .connection(&conn)
                .and_then(|c| c.children.first())
                .map(|c| c.name.clone())
        });
        let installed = self
            .ep
            .status()
            .connections
            .iter()
            .filter(|c| c.name == conn)
            .flat_map(|c| &c.ike_sas)
            .flat_map(|s| &s.children)
            .any(|c| Some(&c.name) == child.as_ref() && c.state == ChildStatusState::Installed);
        if installed {
            let msg = format!("{} is already installed", target(&conn, &child));
            let _ = reply.send(Outcome::Ok {
                data: serde_json::Value::String(msg),
            });
            return;
        }
        tracing::info!(conn = %conn, "initiating {} (requested by rswanctl)", target(&conn, &child));
        self.waiters.push(Waiter {
            kind: WaitKind::Up,
            conn: conn.clone(),
            child: child.clone(),
            deadline: now + Duration::from_secs(timeout.unwrap_or(60).clamp(1, 3600)),
            reply,
        });
        self.ep
            .handle_command(now, Command::Initiate { conn, child });
    }

    /// `down`: close what has an SA; the reply waits until it is gone.
    fn control_down(
        &mut self,
        now: Instant,
        conn: String,
        child: Option<String>,
        reply: oneshot::Sender<Outcome>,
    ) {
        if let Err(e) = self.check_target(&conn, child.as_deref()) {
            let _ = reply.send(Outcome::Error { message: e });
            return;
        }
        let st = self.ep.status();
        let has_sa = st
            .connections
            .iter()
            .filter(|c| c.name == conn)
            .flat_map(|c| &c.ike_sas)
            .any(|s| {
                child
                    .as_ref()
                    .is_none_or(|ch| s.children.iter().any(|c| &c.name == ch))
            });
        if !has_sa {
            let _ = reply.send(Outcome::Error {
                message: format!("{} has no SA to close", target(&conn, &child)),
            });
            return;
        }
        tracing::info!(conn = %conn, "closing {} (requested by rswanctl)", target(&conn, &child));
        self.starts.forget(&conn);
        self.waiters.push(Waiter {
            kind: WaitKind::Down,
            conn: conn.clone(),
            child: child.clone(),
            deadline: now + Duration::from_secs(30),
            reply,
        });
        let cmd = match child {
            Some(child) => Command::TerminateChild { conn, child },
            None => Command::TerminateIke { conn },
        };
        self.ep.handle_command(now, cmd);
    }

    /// `diagnose`: at once, or after a traffic sample of `sample_ms`.
    fn control_diagnose(
        &mut self,
        now: Instant,
        conn: String,
        sample_ms: Option<u64>,
        reply: oneshot::Sender<Outcome>,
    ) {
        if let Err(e) = self.check_target(&conn, None) {
            let _ = reply.send(Outcome::Error { message: e });
            return;
        }
        let wait = Duration::from_millis(sample_ms.unwrap_or(1000)).min(diagnose_view::MAX_SAMPLE);
        if wait.is_zero() {
            let d = diagnose_view::build(self, now, &conn, None);
            let _ = reply.send(Outcome::Ok {
                data: serde_json::to_value(d).unwrap_or_default(),
            });
            return;
        }
        let first = diagnose_view::sample(self, now, &conn);
        self.diagnoses.push(diagnose_view::Pending {
            conn,
            deadline: now + wait,
            first,
            reply,
        });
    }

    fn check_target(&self, conn: &str, child: Option<&str>) -> Result<(), String> {
        let c = self.config.connection(conn).ok_or_else(|| {
            let names: Vec<&str> = self
                .config
                .connections
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            format!(
                "no connection named '{conn}' (loaded: {})",
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            )
        })?;
        if let Some(ch) = child {
            if c.child(ch).is_none() {
                let names: Vec<&str> = c.children.iter().map(|c| c.name.as_str()).collect();
                return Err(format!(
                    "connection '{conn}' has no child '{ch}' (children: {})",
                    names.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// SIGTERM: DELETE to every peer, a short wait for the answers, then remove whatever of ours
    /// is still in the kernel.
    async fn shutdown(&mut self) {
        self.notifier.stopping();
        tracing::info!("shutting down: deleting IKE SAs");
        let now = Instant::now();
        self.ep.handle_command(now, Command::Shutdown);
        self.flush(now).await;
        let cleanup = self.kernel.remove_all();
        tracing::info!(
            sas = cleanup.sas,
            policies = cleanup.policies,
            failures = cleanup.failures,
            "removed {} SAs and {} policies installed by this rswand",
            cleanup.sas,
            cleanup.policies
        );
        for w in self.waiters.drain(..) {
            let _ = w.reply.send(Outcome::Error {
                message: "rswand is shutting down".into(),
            });
        }
    }
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn target(conn: &str, child: &Option<String>) -> String {
    match child {
        Some(c) => format!("{conn}/{c}"),
        None => conn.to_owned(),
    }
}

/// Whether `ev` settles the waiter, and how.
fn settles(w: &Waiter, ev: &Event, cfg: &Config) -> Option<Outcome> {
    let ok = |msg: String| {
        Some(Outcome::Ok {
            data: serde_json::Value::String(msg),
        })
    };
    let err = |msg: String| Some(Outcome::Error { message: msg });
    match (w.kind, ev) {
        (WaitKind::Up, Event::ChildSaUp { conn, child, spi_in, spi_out, local_ts, remote_ts, .. })
            if *conn == w.conn && w.child.as_ref().is_none_or(|c| c == child) =>
        {
            ok(format!("{conn}/{child}: Child SA installed, SPIs {spi_in:08x}_i {spi_out:08x}_o, {local_ts} === {remote_ts}"))
        }
        (WaitKind::Up, Event::IkeSaUp { conn, .. })
            if *conn == w.conn && cfg.connection(conn).is_some_and(|c| c.children.is_empty()) =>
        {
            ok(format!("{conn}: IKE SA established (no children configured)"))
        }
        (WaitKind::Up, Event::NegotiationFailed { conn: Some(conn), .. }) if *conn == w.conn => {
            let line = describe(ev, cfg);
            let line = line.strip_prefix(&format!("<{conn}> ")).unwrap_or(&line).to_owned();
            err(format!("{}: {line}", target(&w.conn, &w.child)))
        }
        (WaitKind::Up, Event::IkeSaDown { conn, reason: DownReason::Failed(r), .. }) if *conn == w.conn => {
            err(format!("{}: {r}", target(&w.conn, &w.child)))
        }
        (WaitKind::Up, Event::ChildSaDown { conn, child, reason: DownReason::Failed(r), .. })
            if *conn == w.conn && w.child.as_ref().is_none_or(|c| c == child) =>
        {
            err(format!("{conn}/{child}: {r}"))
        }
        (WaitKind::Down, Event::IkeSaDown { conn, spis, .. }) if *conn == w.conn && w.child.is_none() => {
            ok(format!("{conn}: IKE SA {spis} closed"))
        }
        (WaitKind::Down, Event::ChildSaDown { conn, child, spi_in, spi_out, .. })
            if *conn == w.conn && w.child.as_ref() == Some(child) =>
        {
            ok(format!("{conn}/{child}: Child SA {spi_in:08x}_i {spi_out:08x}_o closed"))
        }
        _ => None,
    }
}

/// The event's one-line message. When the peer refused our proposals, the core only knows the
/// notify; the driver adds what we offered, so the initiator's line also names the values.
fn describe(ev: &Event, cfg: &Config) -> String {
    if let Event::NegotiationFailed {
        conn: Some(conn),
        reason: FailureReason::PeerError { notify, child, .. },
        ..
    } = ev
    {
        if *notify == NotifyType::NO_PROPOSAL_CHOSEN {
            if let Some(c) = cfg.connection(conn) {
                let offered = match child.as_deref().and_then(|ch| c.child(ch)) {
                    Some(ch) if ch.esp_proposals.is_empty() => {
                        format!("ESP {}", ProposalSet::default_esp())
                    }
                    Some(ch) => format!("ESP {}", ch.esp_proposals.join(",")),
                    None => format!("IKE {}", c.proposals.join(",")),
                };
                return format!("{ev}; we offered {offered}");
            }
        }
    }
    ev.to_string()
}

/// The line that stands for the events of a window that had no line of their own.
fn log_summary(s: &log_limit::Summary) {
    match s.level {
        CoreLevel::Error => tracing::error!("{s}"),
        CoreLevel::Warn => tracing::warn!("{s}"),
        CoreLevel::Info => tracing::info!("{s}"),
        CoreLevel::Debug => tracing::debug!("{s}"),
    }
}

/// One log line per core event, with the fields journald and `rswanctl log --peer` filter on.
fn log_event(ev: &Event, msg: &str) {
    let conn = ev.conn().unwrap_or("");
    let peer = match ev {
        Event::IkeSaUp { remote, .. } | Event::IkeSaDown { remote, .. } => Some(remote.to_string()),
        Event::NegotiationFailed { peer, .. } => Some(peer.to_string()),
        Event::Dropped { from, .. } | Event::CookieDemanded { from, .. } => Some(from.to_string()),
        _ => None,
    };
    let peer = peer.as_deref().unwrap_or("");
    let spis = match ev {
        Event::IkeStateChange { spis, .. }
        | Event::IkeSaUp { spis, .. }
        | Event::IkeSaDown { spis, .. }
        | Event::NatDetected { spis, .. } => spis.to_string(),
        Event::ChildSaUp {
            spi_in, spi_out, ..
        }
        | Event::ChildSaDown {
            spi_in, spi_out, ..
        } => {
            format!("{spi_in:08x}_i {spi_out:08x}_o")
        }
        _ => String::new(),
    };
    macro_rules! emit {
        ($lvl:ident) => {
            match (conn.is_empty(), peer.is_empty(), spis.is_empty()) {
                (false, false, false) => tracing::$lvl!(conn = %conn, peer = %peer, spis = %spis, "{msg}"),
                (false, false, true) => tracing::$lvl!(conn = %conn, peer = %peer, "{msg}"),
                (false, true, false) => tracing::$lvl!(conn = %conn, spis = %spis, "{msg}"),
                (false, true, true) => tracing::$lvl!(conn = %conn, "{msg}"),
                (true, false, _) => tracing::$lvl!(peer = %peer, "{msg}"),
                (true, true, _) => tracing::$lvl!("{msg}"),
            }
        };
    }
    match ev.level() {
        CoreLevel::Error => emit!(error),
        CoreLevel::Warn => emit!(warn),
        CoreLevel::Info => emit!(info),
        CoreLevel::Debug => emit!(debug),
    }
}
