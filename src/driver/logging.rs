//! Logging: journald with structured fields when systemd runs us (JOURNAL_STREAM set), readable
//! console lines otherwise; plus a broadcast of every record for `rswanctl log` and `up`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::control::protocol::{LogLevel, LogRecord};

/// Hands every log record to the control socket's subscribers.
pub struct BroadcastLayer {
    tx: broadcast::Sender<LogRecord>,
}

#[derive(Default)]
struct Collect {
    message: String,
    fields: BTreeMap<String, String>,
}

impl Visit for Collect {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.fields
                .insert(field.name().to_owned(), value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.fields
                .insert(field.name().to_owned(), format!("{value:?}"));
        }
    }
}

impl<S: Subscriber> Layer<S> for BroadcastLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let mut c = Collect::default();
        event.record(&mut c);
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| (d.as_millis() as f64) / 1000.0)
            .unwrap_or(0.0);
        let _ = self.tx.send(LogRecord {
            time,
            level: LogLevel::from_tracing(event.metadata().level()),
            message: c.message,
            fields: c.fields,
        });
    }
}

/// Installs the global subscriber and returns the sender live log streams subscribe to.
/// `RUST_LOG` overrides the level of the journal/console output (default info).
pub fn init() -> broadcast::Sender<LogRecord> {
    let (tx, _) = broadcast::channel(1024);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let broadcast = BroadcastLayer { tx: tx.clone() }.with_filter(LevelFilter::DEBUG);
    let journald = if std::env::var_os("JOURNAL_STREAM").is_some() {
        match tracing_journald::layer() {
            // No "F_" prefix: fields appear as CONN, PEER, SPIS (journalctl CONN=west-east).
            Ok(l) => Some(
                l.with_syslog_identifier("rswand".to_owned())
                    .with_field_prefix(None),
            ),
            Err(e) => {
                eprintln!("rswand: journald unavailable ({e}), logging to stderr");
                None
            }
        }
    } else {
        None
    };
    let registry = tracing_subscriber::registry().with(broadcast);
    match journald {
        Some(j) => registry.with(j.with_filter(filter)).init(),
        None => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_target(false)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_filter(filter),
            )
            .init(),
    }
    tx
}
