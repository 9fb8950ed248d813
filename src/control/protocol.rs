//! The control protocol between rswanctl and rswand: one JSON object per line over a unix stream
//! socket. The client sends one request; the daemon answers with zero or more `log` lines (live
//! log of the operation, or the stream itself for `log`) and then exactly one `result` line,
//! except for `log`, which streams until the client disconnects.

use serde::{Deserialize, Serialize};

/// Default control socket path (the systemd unit's RuntimeDirectory is /run/rswan).
pub const DEFAULT_SOCKET: &str = "/run/rswan/rswan.sock";

/// Longest request line the daemon reads; anything longer is refused (a request is a few words).
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    Status,
    ListSas,
    ListConns,
    Up {
        conn: String,
        #[serde(default)]
        child: Option<String>,
        /// Seconds to wait for the outcome before giving up (the negotiation goes on).
        #[serde(default)]
        timeout: Option<u64>,
    },
    Down {
        conn: String,
        #[serde(default)]
        child: Option<String>,
    },
    Reload,
    /// The troubleshooting workflow for one connection (docs/json.md, "diagnose").
    Diagnose {
        conn: String,
        /// Milliseconds between the two counter samples; 0 samples once (no deltas).
        #[serde(default)]
        sample_ms: Option<u64>,
    },
    /// The keys of the current SAs as Wireshark key tables (docs/json.md, "export-keys").
    ExportKeys,
    Log {
        #[serde(default)]
        peer: Option<String>,
        #[serde(default)]
        level: Option<LogLevel>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn from_tracing(l: &tracing::Level) -> Self {
        match *l {
            tracing::Level::ERROR => LogLevel::Error,
            tracing::Level::WARN => LogLevel::Warn,
            tracing::Level::INFO => LogLevel::Info,
            tracing::Level::DEBUG => LogLevel::Debug,
            tracing::Level::TRACE => LogLevel::Trace,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl std::str::FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Ok(LogLevel::Error),
            "warn" | "warning" => Ok(LogLevel::Warn),
            "info" => Ok(LogLevel::Info),
            "debug" => Ok(LogLevel::Debug),
            "trace" => Ok(LogLevel::Trace),
            _ => Err(format!(
                "unknown log level '{s}': expected error, warn, info, debug or trace"
            )),
        }
    }
}

/// One log record as streamed to clients.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Seconds since the Unix epoch, with milliseconds.
    pub time: f64,
    pub level: LogLevel,
    pub message: String,
    /// Structured fields (conn, peer, spi_i, ...), as text.
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, String>,
}

impl LogRecord {
    /// Renders the record as one readable line (for `rswanctl log` and `up`).
    pub fn to_line(&self) -> String {
        let mut s = format!(
            "{:>5} {}",
            self.level.as_str().to_ascii_uppercase(),
            self.message
        );
        for (k, v) in &self.fields {
            s.push_str(&format!(" {k}={v}"));
        }
        s
    }
}

/// A line from the daemon to the client.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Log(LogRecord),
    Result(Outcome),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Ok {
        #[serde(default)]
        data: serde_json::Value,
    },
    Error {
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_a_stable_wire_form() {
        let r = Request::Up {
            conn: "west-east".into(),
            child: Some("net".into()),
            timeout: None,
        };
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(
            line,
            r#"{"cmd":"up","conn":"west-east","child":"net","timeout":null}"#
        );
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"cmd":"up","conn":"x"}"#).unwrap(),
            Request::Up {
                conn: "x".into(),
                child: None,
                timeout: None
            }
        );
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"cmd":"list-sas"}"#).unwrap(),
            Request::ListSas
        );
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"format-disk"}"#).is_err());
    }

    #[test]
    fn replies_round_trip() {
        let r = Reply::Result(Outcome::Error {
            message: "no such connection".into(),
        });
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(
            line,
            r#"{"result":{"status":"error","message":"no such connection"}}"#
        );
        assert!(matches!(
            serde_json::from_str::<Reply>(&line).unwrap(),
            Reply::Result(Outcome::Error { .. })
        ));
    }
}
