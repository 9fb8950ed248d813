//! rswanctl's command line, in the library so that the man page and completions are generated
//! from the same definition the binary parses.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::control::protocol::{LogLevel, DEFAULT_SOCKET};

/// Control a running rswand: show tunnels, bring them up or down, reload, follow the log.
#[derive(Parser, Debug)]
#[command(name = "rswanctl", version, about, long_about = None)]
pub struct Cli {
    /// Control socket of the rswand instance to talk to.
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Per connection: children up/total, IKE SA state and algorithms, Child SAs with counters.
    Status {
        /// Print the stable JSON form (docs/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Established IKE SAs and Child SAs only.
    ListSas {
        #[arg(long)]
        json: bool,
    },
    /// The loaded connections (configuration, without secrets).
    ListConns {
        #[arg(long)]
        json: bool,
    },
    /// Start a connection (all its children, or one) and wait for the outcome.
    Up {
        /// CONN or CONN/CHILD
        target: String,
        /// Give up waiting after this many seconds (the negotiation itself goes on).
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Close a connection's IKE SA (with all children), or one Child SA.
    Down {
        /// CONN or CONN/CHILD
        target: String,
    },
    /// Re-read the configuration; tunnels of unchanged connections are kept.
    Reload,
    /// Troubleshoot a connection: a one-line verdict, then the evidence (reachability, Phase 1,
    /// Phase 2 counters, kernel drops, routing, MTU, liveness).
    Diagnose {
        conn: String,
        /// Print the stable JSON form (docs/json.md).
        #[arg(long)]
        json: bool,
        /// Seconds between the two samples of the SA and kernel counters (0: one sample).
        #[arg(long, default_value_t = 1.0, value_name = "SECS")]
        sample: f64,
    },
    /// Write the keys of the current IKE and ESP SAs as Wireshark key tables
    /// (`ikev2_decryption_table`, `esp_sa`, mode 0600) into DIR, e.g. a Wireshark profile folder,
    /// to decrypt a capture. Anyone who reads them can decrypt the traffic.
    ExportKeys {
        /// Folder to write the two files to (created if missing).
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
    /// Follow the daemon's log live.
    Log {
        /// Only lines about this peer address.
        #[arg(long, value_name = "ADDR")]
        peer: Option<String>,
        /// Lowest level to show: error, warn, info, debug, trace.
        #[arg(long, value_name = "LEVEL", default_value = "info")]
        level: LogLevel,
    },
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff).
    Man,
}

/// Splits `conn/child`.
pub fn split_target(t: &str) -> (String, Option<String>) {
    match t.split_once('/') {
        Some((c, ch)) if !ch.is_empty() => (c.to_owned(), Some(ch.to_owned())),
        Some((c, _)) => (c.to_owned(), None),
        None => (t.to_owned(), None),
    }
}

/// Writes `content` to `dir/name` with mode 0600, replacing an older table (the export is of the
/// SAs that exist now). `dir` is created (0700) if missing.
pub fn write_key_table(dir: &std::path::Path, name: &str, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let path = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(content.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn key_tables_replace_older_ones_and_stay_private() {
        let dir = std::env::temp_dir().join(format!("rswanctl-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write_key_table(&dir, "esp_sa", "old\nlines\n").unwrap();
        let p = dir.join("esp_sa");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_key_table(&dir, "esp_sa", "new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new\n");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
