//! The daemon side of the control socket: accepts clients, reads one request line each, hands it
//! to the daemon loop, and writes back log lines and the result. `log` streams are served here
//! directly from the log broadcast, without involving the daemon loop.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::access::{self, AccessPolicy, Peer};
use super::protocol::{LogLevel, LogRecord, Outcome, Reply, Request, MAX_REQUEST_LINE};

/// A request for the daemon loop, with the channel its outcome goes back on.
pub struct ControlRequest {
    pub request: Request,
    pub reply: oneshot::Sender<Outcome>,
}

/// Binds the control socket: mode 0660 (root and the socket's group may control the daemon).
/// A stale socket file from a crashed instance is replaced; a live one is an error.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} is in use by a running rswand", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::create_dir_all(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {}: {e}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

/// Removes the socket file on shutdown.
pub struct SocketFile(pub PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Authorizes one request and logs it: a refusal always, an allowed one when it changes state
/// or opens a debug log stream, so the log says who asked for every change.
fn check(request: &Request, peer: &Peer, policy: &AccessPolicy) -> Result<(), String> {
    let pid = peer.pid.map_or_else(|| "?".to_owned(), |p| p.to_string());
    let cmd = access::command_name(request);
    match access::authorize(request, peer, policy, access::system_in_group) {
        Ok(()) => {
            if access::need(request) != access::Need::Connect {
                tracing::info!(uid = peer.uid, pid = %pid, "control: '{cmd}' from uid {} (pid {pid})", peer.uid);
            }
            Ok(())
        }
        Err(e) => {
            tracing::warn!(uid = peer.uid, pid = %pid, "control: refused '{cmd}' from uid {} (pid {pid}): {e}", peer.uid);
            Err(e)
        }
    }
}

/// Accepts clients forever; each gets its own task.
pub async fn serve(
    listener: UnixListener,
    to_daemon: mpsc::Sender<ControlRequest>,
    logs: broadcast::Sender<LogRecord>,
    access: watch::Receiver<AccessPolicy>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let to_daemon = to_daemon.clone();
                let logs = logs.clone();
                let policy = access.borrow().clone();
                tokio::spawn(async move {
                    if let Err(e) = client(stream, to_daemon, logs, policy).await {
                        tracing::debug!("control client: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!("control socket accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn write_line(w: &mut (impl AsyncWriteExt + Unpin), reply: &Reply) -> io::Result<()> {
    let mut line = serde_json::to_string(reply).map_err(io::Error::other)?;
    line.push('\n');
    w.write_all(line.as_bytes()).await
}

fn matches(rec: &LogRecord, level: LogLevel, peer: Option<&str>) -> bool {
    if rec.level > level {
        return false;
    }
    match peer {
        None => true,
        // Peer addresses appear as `peer=ip` or `ip:port` in fields.
        Some(p) => rec.fields.get("peer").is_some_and(|v| {
            v == p || v.starts_with(&format!("{p}:")) || v.starts_with(&format!("[{p}]:"))
        }),
    }
}

async fn client(
    stream: UnixStream,
    to_daemon: mpsc::Sender<ControlRequest>,
    logs: broadcast::Sender<LogRecord>,
    policy: AccessPolicy,
) -> io::Result<()> {
    let cred = stream.peer_cred()?;
    let peer = Peer {
        uid: cred.uid(),
        gid: cred.gid(),
        pid: cred.pid(),
    };
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::new(r.take(MAX_REQUEST_LINE as u64));
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let request = match serde_json::from_str::<Request>(line.trim()) {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("invalid request: {e}");
            return write_line(&mut w, &Reply::Result(Outcome::Error { message: msg })).await;
        }
    };
    if let Err(message) = check(&request, &peer, &policy) {
        return write_line(&mut w, &Reply::Result(Outcome::Error { message })).await;
    }
    if let Request::Log { peer, level } = &request {
        return stream_logs(
            &mut w,
            &logs,
            level.unwrap_or(LogLevel::Info),
            peer.as_deref(),
        )
        .await;
    }
    // Operations that change state stream the log lines about their connection meanwhile.
    let mut follow = match &request {
        Request::Up { conn, .. } | Request::Down { conn, .. } => Some(conn.clone()),
        _ => None,
    };
    let mut rx = logs.subscribe();
    let (tx, mut result) = oneshot::channel();
    if to_daemon
        .send(ControlRequest { request, reply: tx })
        .await
        .is_err()
    {
        let msg = "rswand is shutting down".to_owned();
        return write_line(&mut w, &Reply::Result(Outcome::Error { message: msg })).await;
    }
    loop {
        tokio::select! {
            outcome = &mut result => {
                let outcome = outcome.unwrap_or(Outcome::Error { message: "rswand is shutting down".into() });
                return write_line(&mut w, &Reply::Result(outcome)).await;
            }
            rec = rx.recv(), if follow.is_some() => match rec {
                Ok(rec) => {
                    if rec.level <= LogLevel::Info && rec.fields.get("conn") == follow.as_ref() {
                        write_line(&mut w, &Reply::Log(rec)).await?;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => follow = None,
            },
        }
    }
}

/// `log`: the daemon's log records at `level` and above (about `peer` if given) until the
/// client goes away.
async fn stream_logs(
    w: &mut tokio::net::unix::OwnedWriteHalf,
    logs: &broadcast::Sender<LogRecord>,
    level: LogLevel,
    peer: Option<&str>,
) -> io::Result<()> {
    let mut rx = logs.subscribe();
    // Tell the client the stream is open before the first record, so it knows the
    // daemon is there even when nothing is logged for a while.
    tracing::debug!("log stream opened (level {})", level.as_str());
    loop {
        match rx.recv().await {
            Ok(rec) if matches(&rec, level, peer) => write_line(w, &Reply::Log(rec)).await?,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(n)) => {
                let rec = LogRecord {
                    time: 0.0,
                    level: LogLevel::Warn,
                    message: format!("{n} log records skipped (client too slow)"),
                    fields: Default::default(),
                };
                write_line(w, &Reply::Log(rec)).await?;
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        }
    }
}
