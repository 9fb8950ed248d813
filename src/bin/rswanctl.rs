//! rswanctl: the operator's command line for rswand (see `rswanctl --help`, `rswanctl man`).
//!
//! Exit codes: 0 success, 1 the operation failed (the daemon's reason is printed), 2 usage error,
//! 3 the daemon cannot be reached.

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use rswan::cli::{split_target, write_key_table, Cli, Command};
use rswan::control::client::{call, ClientError};
use rswan::control::protocol::Request;
use rswan::diagnose::render as render_diagnosis;
use rswan::status::{render_conns, render_sas, render_status};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rswanctl: {e}");
            match e {
                ClientError::Connect { .. } => ExitCode::from(3),
                _ => ExitCode::from(1),
            }
        }
    }
}

fn print_log(rec: &rswan::control::protocol::LogRecord) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (e.g. `| head`) ends the stream quietly.
    if writeln!(out, "{}", rec.to_line())
        .and_then(|_| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

fn run(cli: Cli) -> Result<(), ClientError> {
    let socket = cli.socket.as_path();
    match cli.command {
        Command::Status { json } => {
            let data = call(socket, &Request::Status, |_| {})?;
            json_or(data, json, |v| decoded(v, render_status))
        }
        Command::ListSas { json } => {
            let data = call(socket, &Request::ListSas, |_| {})?;
            json_or(data, json, |v| decoded(v, render_sas))
        }
        Command::ListConns { json } => {
            let data = call(socket, &Request::ListConns, |_| {})?;
            json_or(data, json, |v| Ok(render_conns(v)))
        }
        Command::Up { target, timeout } => {
            let (conn, child) = split_target(&target);
            let data = call(
                socket,
                &Request::Up {
                    conn,
                    child,
                    timeout: Some(timeout),
                },
                print_log,
            )?;
            println!("{}", data.as_str().unwrap_or("up"));
            Ok(())
        }
        Command::Down { target } => {
            let (conn, child) = split_target(&target);
            let data = call(socket, &Request::Down { conn, child }, print_log)?;
            println!("{}", data.as_str().unwrap_or("down"));
            Ok(())
        }
        Command::Reload => {
            let data = call(socket, &Request::Reload, print_log)?;
            println!("{}", data.as_str().unwrap_or("reloaded"));
            Ok(())
        }
        Command::Diagnose { conn, json, sample } => {
            let sample_ms = (sample.clamp(0.0, 30.0) * 1000.0) as u64;
            let data = call(
                socket,
                &Request::Diagnose {
                    conn,
                    sample_ms: Some(sample_ms),
                },
                |_| {},
            )?;
            json_or(data, json, |v| decoded(v, render_diagnosis))
        }
        Command::ExportKeys { dir } => export_keys(socket, &dir),
        Command::Log { peer, level } => {
            call(
                socket,
                &Request::Log {
                    peer,
                    level: Some(level),
                },
                print_log,
            )?;
            Ok(())
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "rswanctl",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man => {
            let man = clap_mangen::Man::new(Cli::command());
            man.render(&mut std::io::stdout()).map_err(ClientError::Io)
        }
    }
}

/// The daemon's answer as pretty JSON, or rendered for people by `human`.
fn json_or(
    data: serde_json::Value,
    json: bool,
    human: fn(&serde_json::Value) -> Result<String, String>,
) -> Result<(), ClientError> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&data).unwrap_or_default()
        );
        Ok(())
    } else {
        human(&data)
            .map(|s| print!("{s}"))
            .map_err(ClientError::Protocol)
    }
}

/// Decodes an answer as `T` and renders it.
fn decoded<T: serde::de::DeserializeOwned>(
    v: &serde_json::Value,
    render: fn(&T) -> String,
) -> Result<String, String> {
    let t: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    Ok(render(&t))
}

/// `export-keys DIR`: writes Wireshark's two key tables.
fn export_keys(socket: &std::path::Path, dir: &std::path::Path) -> Result<(), ClientError> {
    let data = call(socket, &Request::ExportKeys, |_| {})?;
    let field = |k: &str| data.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    for name in ["ikev2_decryption_table", "esp_sa"] {
        write_key_table(dir, name, field(name)).map_err(|e| {
            ClientError::Protocol(format!("cannot write {}: {e}", dir.join(name).display()))
        })?;
    }
    let count = |k: &str| data.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    println!(
        "wrote keys of {} IKE SA(s) to {} and {} ESP SA(s) to {}",
        count("ike_sas"),
        dir.join("ikev2_decryption_table").display(),
        count("esp_sas"),
        dir.join("esp_sa").display()
    );
    if let Some(s) = data.get("skipped").and_then(|v| v.as_array()) {
        for w in s.iter().filter_map(|v| v.as_str()) {
            eprintln!("rswanctl: skipped: {w}");
        }
    }
    Ok(())
}
