//! rswand and rswanctl as processes, on this host: two daemons on loopback with their own ports
//! and control sockets negotiate with each other. The host kernel may lack ESP, so these tests
//! cover everything up to the SA install (diagnoses, control protocol, reload, shutdown); the
//! installed-SA and traffic path is covered by tests/vm/cases/daemon-*.sh.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const RSWAND: &str = env!("CARGO_BIN_EXE_rswand");
const RSWANCTL: &str = env!("CARGO_BIN_EXE_rswanctl");

struct Daemon {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Daemon {
    fn start(dir: &Path, name: &str, config: &str, port: u16) -> Daemon {
        Daemon::start_with_env(dir, name, config, port, &[])
    }

    fn start_with_env(
        dir: &Path,
        name: &str,
        config: &str,
        port: u16,
        env: &[(&str, &Path)],
    ) -> Daemon {
        let cfg = dir.join(format!("{name}.yaml"));
        fs::write(&cfg, config).unwrap();
        fs::set_permissions(&cfg, fs::Permissions::from_mode(0o600)).unwrap();
        let socket = dir.join(format!("{name}.sock"));
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(RSWAND)
            .args([
                "--config",
                cfg.to_str().unwrap(),
                "--socket",
                socket.to_str().unwrap(),
            ])
            .args([
                "--port",
                &port.to_string(),
                "--port-nat-t",
                &(port + 1).to_string(),
            ])
            .env("RUST_LOG", "info")
            .env_remove("JOURNAL_STREAM")
            .env_remove("NOTIFY_SOCKET")
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let d = Daemon { child, socket, log };
        let t0 = Instant::now();
        while !d.socket.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "{name} did not start:\n{}",
                d.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    fn ctl(&self, args: &[&str]) -> Output {
        Command::new(RSWANCTL)
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal by name (HUP, TERM) with kill(1), keeping the tests free of unsafe code.
    fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// SIGTERM and wait; returns the exit status.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        self.signal("TERM");
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return (st, self.log_text());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "rswand did not exit on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connection between two daemons on 127.0.0.1 (`me` listens on `port`, the peer on `peer_port`).
fn config(
    me: &str,
    peer: &str,
    port: u16,
    peer_port: u16,
    proposals: &str,
    secret: &str,
) -> String {
    let (lts, rts) = if me == "a" {
        ("10.1.0.0/24", "10.2.0.0/24")
    } else {
        ("10.2.0.0/24", "10.1.0.0/24")
    };
    format!(
        "connections:
  ab:
    local_addrs: [127.0.0.1]
    remote_addrs: [127.0.0.1]
    local_port: {port}
    remote_port: {peer_port}
    proposals: [{proposals}]
    local: {{auth: psk, id: {me}.example}}
    remote: {{auth: psk, id: {peer}.example}}
    children:
      net:
        local_ts: [{lts}]
        remote_ts: [{rts}]
        esp_proposals: [aes256gcm16]
secrets:
  ike-ab:
    id: [a.example, b.example]
    secret: \"{secret}\"
"
    )
}

fn pair(dir: &Path, base: u16, b_proposals: &str, b_secret: &str) -> (Daemon, Daemon) {
    let a = Daemon::start(
        dir,
        "a",
        &config(
            "a",
            "b",
            base,
            base + 10,
            "aes256gcm16-prfsha256-x25519",
            "shared",
        ),
        base,
    );
    let b = Daemon::start(
        dir,
        "b",
        &config("b", "a", base + 10, base, b_proposals, b_secret),
        base + 10,
    );
    (a, b)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Waits until `pred` holds for the daemon's log (the peer logs asynchronously).
fn wait_log(d: &Daemon, pred: impl Fn(&str) -> bool) -> String {
    let t0 = Instant::now();
    loop {
        let t = d.log_text();
        if pred(&t) || t0.elapsed() > Duration::from_secs(5) {
            return t;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn status_and_list_conns_over_the_control_socket() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        dir.path(),
        "a",
        &config(
            "a",
            "b",
            24000,
            24010,
            "aes256gcm16-prfsha256-x25519",
            "s3cr3t-value",
        ),
        24000,
    );

    let o = d.ctl(&["status", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["daemon"]["pid"], d.child.id());
    let c = &v["connections"][0];
    assert_eq!(c["name"], "ab");
    assert_eq!(
        (c["children_total"].as_u64(), c["children_up"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(c["children"][0]["state"], "none");
    assert_eq!(c["ike_sas"].as_array().unwrap().len(), 0);

    let o = d.ctl(&["status"]);
    assert!(
        stdout(&o).contains("ab: 127.0.0.1 -> 127.0.0.1, children 0/1 up"),
        "{}",
        stdout(&o)
    );

    let o = d.ctl(&["list-conns", "--json"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(
        !text.contains("s3cr3t"),
        "list-conns must not show the PSK: {text}"
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let c = &v["connections"][0];
    assert_eq!(c["local"]["id"], "a.example");
    assert_eq!(c["children"][0]["remote_ts"][0], "10.2.0.0/24");
    assert_eq!(c["rekey_time"], "4h");
    assert_eq!(c["children"][0]["life_time"], "66m");
    let o = d.ctl(&["list-conns"]);
    assert!(
        stdout(&o).contains("child net: TUNNEL, esp aes256gcm16"),
        "{}",
        stdout(&o)
    );

    let o = d.ctl(&["list-sas"]);
    assert_eq!(stdout(&o), "no SAs\n");

    let o = d.ctl(&["up", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no connection named 'nosuch' (loaded: ab)"),
        "{}",
        stderr(&o)
    );
    let o = d.ctl(&["down", "ab/other"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("has no child 'other' (children: net)"),
        "{}",
        stderr(&o)
    );
    let o = d.ctl(&["down", "ab"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("ab has no SA to close"),
        "{}",
        stderr(&o)
    );

    let socket = d.socket.clone();
    let (st, log) = d.stop();
    assert!(st.success(), "{log}");
    assert!(!socket.exists(), "control socket removed on exit");
    assert!(log.contains("removed 0 SAs and 0 policies"), "{log}");
}

#[test]
fn proposal_mismatch_is_diagnosed_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(dir.path(), 24100, "aes128-sha256-modp2048", "shared");
    let o = a.ctl(&["up", "ab", "--timeout", "10"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("NO_PROPOSAL_CHOSEN")
            && err.contains("we offered IKE aes256gcm16-prfsha256-x25519"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one-line reason: {err}");

    let alog = a.log_text();
    let line = alog
        .lines()
        .find(|l| l.contains("NO_PROPOSAL_CHOSEN"))
        .expect(&alog);
    assert!(
        line.contains("ERROR") && line.contains("conn=ab") && line.contains("peer=127.0.0.1:24110"),
        "{line}"
    );
    let blog = wait_log(&b, |t| t.contains("proposal mismatch"));
    let line = blog
        .lines()
        .find(|l| l.contains("no acceptable IKE proposal"))
        .expect(&blog);
    assert!(
        line.contains("encryption")
            && line.contains("AES_GCM_16_256")
            && line.contains("AES_CBC_128"),
        "{line}"
    );
    assert!(
        line.contains("conn=ab") && line.contains("peer=127.0.0.1:24100"),
        "{line}"
    );
}

#[test]
fn wrong_psk_is_diagnosed_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(
        dir.path(),
        24200,
        "aes256gcm16-prfsha256-x25519",
        "not the same",
    );
    let o = a.ctl(&["up", "ab", "--timeout", "10"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("AUTHENTICATION_FAILED"),
        "{}",
        stderr(&o)
    );
    let alog = a.log_text();
    assert!(
        alog.lines().any(|l| l.contains("ERROR")
            && l.contains("peer rejected our authentication")
            && l.contains("conn=ab")),
        "{alog}"
    );
    let blog = wait_log(&b, |t| t.contains("PSK mismatch"));
    assert!(
        blog.lines().any(|l| l.contains("ERROR")
            && l.contains("authentication of 'a.example' failed: PSK mismatch")
            && l.contains("peer=127.0.0.1:24200")),
        "{blog}"
    );
}

#[test]
fn reload_applies_good_config_and_refuses_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(
        dir.path(),
        "a",
        &config("a", "b", 24300, 24310, "aes256gcm16-prfsha256-x25519", "k"),
        24300,
    );
    let cfg = dir.path().join("a.yaml");

    // Broken: the daemon keeps running on the old configuration and says where the error is.
    let good = fs::read_to_string(&cfg).unwrap();
    fs::write(&cfg, good.replace("    local_port:", "    locl_port:")).unwrap();
    let o = d.ctl(&["reload"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{}:5:", cfg.display())) && err.contains("locl_port"),
        "{err}"
    );
    let o = d.ctl(&["list-conns", "--json"]);
    assert!(stdout(&o).contains("\"ab\""));
    // The daemon's own log says so too, not only the client that asked.
    let log = wait_log(&d, |t| t.contains("reload failed"));
    assert!(
        log.contains("reload failed, keeping the running configuration")
            && log.contains("locl_port"),
        "{log}"
    );

    // A second connection appears; the first is unchanged and reported as such.
    let second = good.replace("connections:\n", "connections:\n  cd:\n    local_addrs: [127.0.0.1]\n    remote_addrs: [127.0.0.1]\n    local: {auth: psk, id: a.example}\n    remote: {auth: psk, id: b.example}\n");
    fs::write(&cfg, &second).unwrap();
    let o = d.ctl(&["reload"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("2 connection(s); changed or new: cd; removed: none"),
        "{}",
        stdout(&o)
    );

    // SIGHUP does the same.
    fs::write(&cfg, &good).unwrap();
    d.signal("HUP");
    let log = wait_log(&d, |t| t.contains("removed: cd"));
    assert!(
        log.contains("1 connection(s); changed or new: none; removed: cd"),
        "{log}"
    );
}

#[test]
fn rswanctl_says_when_the_daemon_is_not_running() {
    let o = Command::new(RSWANCTL)
        .args(["--socket", "/nonexistent/rswan.sock", "status"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert!(
        err.starts_with("rswanctl: cannot connect to /nonexistent/rswan.sock: "),
        "{err}"
    );
    assert!(err.contains("is rswand running?"), "{err}");
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn rswanctl_says_when_a_dead_daemon_left_its_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rswan.sock");
    // Bound and closed: the file stays, nobody accepts (what a killed rswand leaves).
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let o = Command::new(RSWANCTL)
        .arg("--socket")
        .arg(&path)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let err = stderr(&o);
    assert!(
        err.contains("rswand stopped and left the socket file"),
        "{err}"
    );
}

#[test]
fn malformed_config_is_rejected_at_startup_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.yaml");
    fs::write(&cfg, "connections:\n  x:\n    local_addrs: [192.0.2.1]\n    children:\n      c:\n        mode: tunel\n").unwrap();
    let mut child = Command::new(RSWAND)
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--socket",
            dir.path().join("s").to_str().unwrap(),
            "--port",
            "24400",
            "--port-nat-t",
            "24401",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let st = child.wait().unwrap();
    assert!(!st.success());
    assert!(
        err.contains(&format!("{}:6:15: connections.x.children.c.mode: unknown variant `tunel`, expected `tunnel` or `transport`", cfg.display())),
        "{err}"
    );
    let o = Command::new(RSWAND)
        .args(["--check", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
}

#[test]
fn world_readable_secrets_stop_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("a.yaml");
    fs::write(
        &cfg,
        config("a", "b", 1, 2, "aes256gcm16-prfsha256-x25519", "k"),
    )
    .unwrap();
    fs::set_permissions(&cfg, fs::Permissions::from_mode(0o644)).unwrap();
    let o = Command::new(RSWAND)
        .args(["--check", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("accessible by other users (mode 0644)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn man_page_and_completions_come_from_the_cli_definition() {
    let o = Command::new(RSWANCTL).arg("man").output().unwrap();
    assert!(o.status.success());
    let man = stdout(&o);
    assert!(
        man.contains(".TH rswanctl") && man.contains("list\\-sas") && man.contains("\\-\\-socket"),
        "{man}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let o = Command::new(RSWANCTL)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(o.status.success());
        assert!(stdout(&o).contains("list-conns"), "{shell}");
    }
}

#[test]
fn systemd_notify_ready_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let notify = dir.path().join("notify");
    let listener = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let d = Daemon::start_with_env(
        dir.path(),
        "a",
        &config("a", "b", 24500, 24510, "aes256gcm16-prfsha256-x25519", "k"),
        24500,
        &[("NOTIFY_SOCKET", notify.as_path())],
    );
    let mut buf = [0u8; 512];
    let n = listener.recv(&mut buf).unwrap();
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        msg.starts_with("READY=1\nSTATUS=1 connections, 0 IKE SAs, 0 Child SAs\nMAINPID="),
        "{msg}"
    );
    let (st, _) = d.stop();
    assert!(st.success());
    let n = listener.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("STOPPING=1"));
}

#[test]
fn log_streams_live_and_filters_by_peer_and_level() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _b) = pair(dir.path(), 24600, "aes128-sha256-modp2048", "shared");
    let spawn_log = |args: &[&str]| {
        Command::new(RSWANCTL)
            .arg("--socket")
            .arg(&a.socket)
            .arg("log")
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let all = spawn_log(&["--level", "info"]);
    let errors_from_peer = spawn_log(&["--level", "error", "--peer", "127.0.0.1"]);
    let other_peer = spawn_log(&["--peer", "192.0.2.99"]);
    std::thread::sleep(Duration::from_millis(300));
    let o = a.ctl(&["up", "ab", "--timeout", "10"]);
    assert_eq!(o.status.code(), Some(1));
    std::thread::sleep(Duration::from_millis(300));
    let collect = |mut c: Child| {
        c.kill().unwrap();
        let mut s = String::new();
        c.stdout.take().unwrap().read_to_string(&mut s).unwrap();
        c.wait().unwrap();
        s
    };
    let all = collect(all);
    assert!(
        all.contains(" INFO initiating ab/net (requested by rswanctl) conn=ab"),
        "{all}"
    );
    assert!(
        all.contains("ERROR <ab> peer answered IKE_SA_INIT with NO_PROPOSAL_CHOSEN"),
        "{all}"
    );
    let errs = collect(errors_from_peer);
    assert!(
        errs.contains("NO_PROPOSAL_CHOSEN") && !errs.contains("INFO"),
        "{errs}"
    );
    assert_eq!(collect(other_peer), "", "nothing about another peer");
}

/// `up` must report what the kernel did: the core announces the Child SA before its kernel
/// operations are confirmed, so on a kernel without ESP (like the CI host) the install fails
/// right after and `up` has to report that failure, not success. With ESP, both say installed.
#[test]
fn up_outcome_agrees_with_the_kernel_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _b) = pair(dir.path(), 24700, "aes256gcm16-prfsha256-x25519", "shared");
    let o = a.ctl(&["up", "ab/net", "--timeout", "10"]);
    let st = a.ctl(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let c = &v["connections"][0];
    assert_eq!(
        c["ike_sas"][0]["state"], "established",
        "IKE SA up either way: {v}"
    );
    if o.status.success() {
        assert!(
            stdout(&o).contains("ab/net: Child SA installed"),
            "{}",
            stdout(&o)
        );
        assert_eq!(c["children"][0]["state"], "installed", "{v}");
        assert_eq!(c["children_up"], 1);
    } else {
        let err = stderr(&o);
        assert!(
            err.starts_with("rswanctl: ab/net: kernel: child 'net': add SA failed"),
            "{err}"
        );
        assert_eq!(c["children"][0]["state"], "none", "{v}");
        assert_eq!(c["children_up"], 0);
        assert!(
            c["last_failure"]
                .as_str()
                .unwrap()
                .contains("add SA failed"),
            "{v}"
        );
    }
}

#[test]
fn a_second_daemon_on_the_same_ports_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _a = Daemon::start(
        dir.path(),
        "a",
        &config("a", "b", 24800, 24810, "aes256gcm16-prfsha256-x25519", "k"),
        24800,
    );
    let cfg = dir.path().join("a.yaml");
    let o = Command::new(RSWAND)
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--socket",
            dir.path().join("other.sock").to_str().unwrap(),
        ])
        .args(["--port", "24800", "--port-nat-t", "24801"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("cannot bind UDP port 24800 (IPv4)"),
        "{}",
        stderr(&o)
    );
    // And a second instance on the same control socket is refused too.
    let o = Command::new(RSWAND)
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--socket",
            dir.path().join("a.sock").to_str().unwrap(),
        ])
        .args(["--port", "24820", "--port-nat-t", "24821"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("is in use by a running rswand"),
        "{}",
        stderr(&o)
    );
}

/// `rswanctl diagnose CONN --json` (one sample), parsed.
fn diagnose(d: &Daemon) -> serde_json::Value {
    let o = d.ctl(&["diagnose", "ab", "--json", "--sample", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

/// Waits until `b`'s diagnosis has a remembered failure (the responder fails asynchronously).
fn diagnose_failed(d: &Daemon) -> serde_json::Value {
    let t0 = Instant::now();
    loop {
        let v = diagnose(d);
        if !v["phase1"]["last_failure"].is_null() || t0.elapsed() > Duration::from_secs(5) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn diagnose_names_a_wrong_psk_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(
        dir.path(),
        25400,
        "aes256gcm16-prfsha256-x25519",
        "not the same",
    );
    assert_eq!(
        a.ctl(&["up", "ab", "--timeout", "10"]).status.code(),
        Some(1)
    );
    let v = diagnose(&a);
    assert_eq!(v["cause"], "psk-mismatch", "{v:#}");
    assert_eq!(
        v["verdict"],
        "Phase 1 failed: PSK mismatch (peer rejected our authentication)"
    );
    assert_eq!(v["reachability"]["replies_seen"], true, "{v:#}");
    assert_eq!(v["reachability"]["reply_ports"][0], 25410, "{v:#}");
    assert_eq!(v["phase2"][0]["state"], "none");
    let v = diagnose_failed(&b);
    assert_eq!(v["cause"], "psk-mismatch", "{v:#}");
    assert_eq!(
        v["verdict"],
        "Phase 1 failed: PSK mismatch (the peer's AUTH does not match our PSK)"
    );
    assert_eq!(v["phase1"]["last_failure"]["peer"], "127.0.0.1:25400");

    // The text form leads with the verdict, then the evidence in the workflow's order.
    let o = a.ctl(&["diagnose", "ab", "--sample", "0.2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "ab: Phase 1 failed: PSK mismatch (peer rejected our authentication)"
    );
    let order = [
        "reachability:",
        "phase 1:",
        "phase 2:",
        "kernel:",
        "routing:",
        "mtu:",
        "liveness:",
    ];
    let pos: Vec<usize> = order
        .iter()
        .map(|k| {
            text.find(k)
                .unwrap_or_else(|| panic!("{k} missing:\n{text}"))
        })
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn diagnose_names_the_mismatched_proposal_parameter_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = pair(
        dir.path(),
        25500,
        "aes256gcm16-prfsha256-modp2048",
        "shared",
    );
    assert_eq!(
        a.ctl(&["up", "ab", "--timeout", "10"]).status.code(),
        Some(1)
    );
    let v = diagnose(&a);
    assert_eq!(v["cause"], "ike-proposal-mismatch", "{v:#}");
    let verdict = v["verdict"].as_str().unwrap();
    assert!(
        verdict.starts_with("Phase 1 failed: IKE proposal mismatch")
            && verdict.contains("we offered aes256gcm16-prfsha256-x25519"),
        "{verdict}"
    );
    // The responder saw both offers and names the parameter that had no overlap.
    let v = diagnose_failed(&b);
    assert_eq!(v["cause"], "ike-proposal-mismatch", "{v:#}");
    let f = &v["phase1"]["last_failure"];
    assert_eq!(f["parameter"], "KE group", "{v:#}");
    assert!(f["theirs"].to_string().contains("CURVE_25519"), "{v:#}");
    assert!(f["ours"].to_string().contains("MODP_2048"), "{v:#}");
    let verdict = v["verdict"].as_str().unwrap();
    assert!(
        verdict.starts_with("Phase 1 failed: IKE proposal mismatch: KE group — peer offered ")
            && verdict.contains("CURVE_25519")
            && verdict.contains("we accept MODP_2048"),
        "{verdict}"
    );
}

#[test]
fn diagnose_says_unreachable_when_no_peer_answers() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        "a",
        "b",
        25600,
        25610,
        "aes256gcm16-prfsha256-x25519",
        "shared",
    );
    let cfg = format!(
        "settings:\n  retransmit_timeout: 1s\n  retransmit_base: 1.0\n  retransmit_tries: 3\n{cfg}"
    );
    let a = Daemon::start(dir.path(), "a", &cfg, 25600);
    // While the attempt is still retransmitting.
    let o = a.ctl(&["up", "ab", "--timeout", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    std::thread::sleep(Duration::from_millis(700));
    let v = diagnose(&a);
    assert_eq!(v["cause"], "peer-unreachable", "{v:#}");
    assert!(
        v["verdict"]
            .as_str()
            .unwrap()
            .starts_with("peer unreachable (still trying): no IKE reply from 127.0.0.1:25610"),
        "{v:#}"
    );
    assert_eq!(v["reachability"]["replies_seen"], false);
    assert!(
        v["reachability"]["unanswered"].as_u64().unwrap() >= 2,
        "{v:#}"
    );
    // After the retransmit budget is spent.
    let t0 = Instant::now();
    let v = loop {
        let v = diagnose(&a);
        if !v["phase1"]["last_failure"].is_null() || t0.elapsed() > Duration::from_secs(10) {
            break v;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(v["cause"], "peer-unreachable", "{v:#}");
    assert_eq!(
        v["verdict"],
        "peer unreachable: no IKE reply from 127.0.0.1:25610 after 3 retransmits (UDP 25610 blocked or peer down)",
        "{v:#}"
    );
    assert_eq!(v["reachability"]["retransmits"], 3);
}

#[test]
fn diagnose_of_an_unknown_connection_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let a = Daemon::start(
        dir.path(),
        "a",
        &config("a", "b", 25700, 25710, "aes256gcm16-prfsha256-x25519", "s"),
        25700,
    );
    let o = a.ctl(&["diagnose", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no connection named 'nope'"),
        "{}",
        stderr(&o)
    );
}

/// rswanctl as another user: uid 1000 with the socket's group (gid 0 here, as the socket is
/// root:root), a real client over the real socket. Needs root to switch uid.
fn ctl_as(d: &Daemon, uid: u32, args: &[&str]) -> Output {
    use std::os::unix::process::CommandExt;
    Command::new(RSWANCTL)
        .arg("--socket")
        .arg(&d.socket)
        .args(args)
        .uid(uid)
        .gid(0)
        .output()
        .unwrap()
}

#[test]
fn control_socket_gives_readers_status_and_keeps_changes_for_root_and_the_admin_group() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to run rswanctl as uid 1000");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // uid 1000 must reach the socket inside the test's folder.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let base = config("a", "b", 27100, 27110, "aes256gcm16-prfsha256-x25519", "k");
    let d = Daemon::start(dir.path(), "a", &base, 27100);

    let o = ctl_as(&d, 1000, &["status"]);
    assert!(o.status.success(), "status as uid 1000: {}", stderr(&o));
    assert!(stdout(&o).contains("ab"), "{}", stdout(&o));

    for (args, verb) in [
        (&["down", "ab"][..], "down"),
        (&["up", "ab"][..], "up"),
        (&["reload"][..], "reload"),
        (&["log", "--level", "debug"][..], "log"),
    ] {
        let o = ctl_as(&d, 1000, args);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{args:?} as uid 1000 was not refused"
        );
        let err = stderr(&o);
        assert!(
            err.contains(&format!(
                "permission denied: '{verb}' needs root (no settings.admin_group is configured)"
            )),
            "{err}"
        );
    }
    let log = wait_log(&d, |l| l.contains("refused 'reload' from uid 1000"));
    assert!(
        log.contains("refused 'down ab' from uid 1000 (pid "),
        "{log}"
    );
    // Live keys: not for uid 1000, and not even for root while key_export is off.
    let o = ctl_as(&d, 1000, &["export-keys", "--dir", "/tmp/nowhere"]);
    assert!(
        stderr(&o).contains("'export-keys' needs root (uid 1000)"),
        "{}",
        stderr(&o)
    );
    let o = d.ctl(&[
        "export-keys",
        "--dir",
        dir.path().join("k").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("settings.key_export"), "{}", stderr(&o));
    assert!(!dir.path().join("k").exists());

    // Root reloads a configuration that names an admin group uid 1000 belongs to (gid 0 is its
    // primary group here): from then on uid 1000 may reload, and the log says who did.
    fs::write(
        dir.path().join("a.yaml"),
        format!("settings:\n  admin_group: root\n{base}"),
    )
    .unwrap();
    let o = d.ctl(&["reload"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = ctl_as(&d, 1000, &["reload"]);
    assert!(
        o.status.success(),
        "reload as an admin-group member: {}",
        stderr(&o)
    );
    let log = wait_log(&d, |l| l.contains("control: 'reload' from uid 1000 (pid "));
    assert!(
        log.contains("control: 'reload' from uid 1000 (pid "),
        "{log}"
    );
    assert!(log.contains("control: 'reload' from uid 0 (pid "), "{log}");
}
