//! Blocking client for the control socket (rswanctl needs no async runtime).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::protocol::{LogRecord, Outcome, Reply, Request};

#[derive(Debug)]
pub enum ClientError {
    Connect {
        path: String,
        err: std::io::Error,
    },
    Io(std::io::Error),
    Protocol(String),
    /// The daemon answered with an error message.
    Daemon(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Connect { path, err } => {
                write!(f, "cannot connect to {path}: {err}")?;
                // What to do next, for the causes an operator meets.
                match err.kind() {
                    std::io::ErrorKind::NotFound => f.write_str(
                        " (is rswand running? `systemctl status rswand`; a daemon started by \
                         hand with --socket PATH needs rswanctl --socket PATH)",
                    ),
                    std::io::ErrorKind::ConnectionRefused => f.write_str(
                        " (nothing listens there: rswand stopped and left the socket file; \
                         `systemctl status rswand`)",
                    ),
                    std::io::ErrorKind::PermissionDenied => f.write_str(
                        " (rswanctl needs root or membership in the socket's group, rswan under \
                         systemd; the socket is root:root when rswand was not started by systemd)",
                    ),
                    _ => Ok(()),
                }
            }
            ClientError::Io(e) => write!(f, "control socket: {e}"),
            ClientError::Protocol(m) => write!(f, "unexpected answer from rswand: {m}"),
            ClientError::Daemon(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ClientError {}

/// Sends `req` and returns the result's data. Log lines that arrive first go to `on_log`.
pub fn call(
    socket: &Path,
    req: &Request,
    mut on_log: impl FnMut(&LogRecord),
) -> Result<serde_json::Value, ClientError> {
    let stream = UnixStream::connect(socket).map_err(|err| ClientError::Connect {
        path: socket.display().to_string(),
        err,
    })?;
    let mut line = serde_json::to_string(req).map_err(|e| ClientError::Protocol(e.to_string()))?;
    line.push('\n');
    (&stream)
        .write_all(line.as_bytes())
        .map_err(ClientError::Io)?;
    let reader = BufReader::new(&stream);
    for l in reader.lines() {
        let l = l.map_err(ClientError::Io)?;
        if l.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Reply>(&l)
            .map_err(|e| ClientError::Protocol(format!("{e}: {l}")))?
        {
            Reply::Log(rec) => on_log(&rec),
            Reply::Result(Outcome::Ok { data }) => return Ok(data),
            Reply::Result(Outcome::Error { message }) => return Err(ClientError::Daemon(message)),
        }
    }
    Err(ClientError::Io(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "rswand closed the connection before answering: it stopped or restarted \
         (`journalctl -u rswand`)",
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect_error(kind: std::io::ErrorKind) -> String {
        ClientError::Connect {
            path: "/run/rswan/rswan.sock".into(),
            err: std::io::Error::from(kind),
        }
        .to_string()
    }

    #[test]
    fn connect_errors_name_the_next_step() {
        assert!(connect_error(std::io::ErrorKind::NotFound).contains("is rswand running?"));
        assert!(connect_error(std::io::ErrorKind::ConnectionRefused).contains("rswand stopped"));
        let denied = connect_error(std::io::ErrorKind::PermissionDenied);
        assert!(
            denied.contains("root or membership in the socket's group"),
            "{denied}"
        );
    }

    #[test]
    fn a_daemon_that_hangs_up_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let t = std::thread::spawn(move || {
            // Read the request, then close without answering (a daemon stopping).
            let (s, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&s).read_line(&mut line).unwrap();
        });
        let e = call(&path, &Request::Status, |_| {}).unwrap_err();
        t.join().unwrap();
        assert!(
            e.to_string().contains("rswand closed the connection"),
            "{e}"
        );
    }
}
