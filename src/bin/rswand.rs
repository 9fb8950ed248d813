//! rswand: the IKEv2 daemon. Runs in the foreground (systemd Type=notify, or a terminal).
//!
//!     rswand --config /etc/rswan/rswan.yaml [--socket /run/rswan/rswan.sock]
//!
//! SIGHUP re-reads the configuration; SIGTERM deletes every SA and policy it installed and exits.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use rswan::control::protocol::DEFAULT_SOCKET;
use rswan::driver::{self, Options};

/// IKEv2 daemon: negotiates in userspace, installs SAs and policies into the kernel (XFRM).
#[derive(Parser, Debug)]
#[command(name = "rswand", version, about)]
struct Args {
    /// Configuration file (YAML, see docs/config.md).
    #[arg(
        long,
        short = 'c',
        value_name = "FILE",
        default_value = "/etc/rswan/rswan.yaml"
    )]
    config: PathBuf,
    /// Control socket for rswanctl.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// UDP port for IKE.
    #[arg(long, default_value_t = 500)]
    port: u16,
    /// UDP port for NAT traversal (ESP-in-UDP and IKE after the non-ESP marker).
    #[arg(long, default_value_t = 4500)]
    port_nat_t: u16,
    /// Check the configuration and exit (0 if it loads).
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.check {
        return match rswan::config::load(&args.config)
            .map_err(|e| e.to_string())
            .and_then(|c| {
                driver::core_config::to_core(&c)
                    .map(|_| c)
                    .map_err(|e| format!("{}: {e}", args.config.display()))
            }) {
            Ok(c) => {
                println!(
                    "{}: OK, {} connection(s)",
                    args.config.display(),
                    c.connections.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rswand: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // Before the configuration (PSKs, private keys) is read into memory.
    let undumpable = driver::dumpable::forbid_dumps();
    let logs = driver::logging::init();
    if let Err(e) = undumpable {
        tracing::warn!("cannot make the process non-dumpable (PR_SET_DUMPABLE): {e}");
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rswand: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = Options {
        config: args.config,
        socket: args.socket,
        port: args.port,
        natt_port: args.port_nat_t,
    };
    match rt.block_on(driver::run(opts, logs)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("rswand: {e}");
            ExitCode::FAILURE
        }
    }
}
