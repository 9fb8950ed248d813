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
            ClientError::Connect { path, err } => write!(f, "cannot connect to {path}: {err}"),
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
    Err(ClientError::Protocol(
        "connection closed before the result".to_owned(),
    ))
}
