//! sd_notify(3) without libsystemd: one datagram per state change to $NOTIFY_SOCKET
//! (READY=1, STATUS=..., STOPPING=1, RELOADING=1). A no-op when not started by systemd.

use std::io;
use std::os::unix::net::UnixDatagram;

pub struct Notifier {
    target: Option<std::os::unix::net::SocketAddr>,
}

impl Notifier {
    /// Reads $NOTIFY_SOCKET: a path, or `@name` for the abstract namespace.
    pub fn from_env() -> Notifier {
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|p| {
            let p = p.to_string_lossy().into_owned();
            if let Some(name) = p.strip_prefix('@') {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).ok()
            } else {
                std::os::unix::net::SocketAddr::from_pathname(&p).ok()
            }
        });
        Notifier { target }
    }

    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends `state` (newline-separated `KEY=value` lines). Errors are returned, not fatal:
    /// the daemon works the same without a service manager listening.
    pub fn notify(&self, state: &str) -> io::Result<()> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        let sock = UnixDatagram::unbound()?;
        sock.send_to_addr(state.as_bytes(), target)?;
        Ok(())
    }

    pub fn ready(&self, status: &str) {
        self.send_logged(&format!(
            "READY=1\nSTATUS={status}\nMAINPID={}",
            std::process::id()
        ));
    }

    pub fn status(&self, status: &str) {
        self.send_logged(&format!("STATUS={status}"));
    }

    pub fn reloading(&self) {
        self.send_logged("RELOADING=1\nSTATUS=reloading configuration");
    }

    pub fn stopping(&self) {
        self.send_logged("STOPPING=1\nSTATUS=deleting SAs and policies");
    }

    fn send_logged(&self, state: &str) {
        if let Err(e) = self.notify(state) {
            tracing::warn!("sd_notify failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_reaches_the_notify_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            target: Some(std::os::unix::net::SocketAddr::from_pathname(&path).unwrap()),
        };
        n.ready("2 connections loaded");
        let mut buf = [0u8; 256];
        let len = listener.recv(&mut buf).unwrap();
        let msg = std::str::from_utf8(&buf[..len]).unwrap();
        assert!(
            msg.starts_with("READY=1\nSTATUS=2 connections loaded\nMAINPID="),
            "{msg}"
        );
        n.stopping();
        let len = listener.recv(&mut buf).unwrap();
        assert!(std::str::from_utf8(&buf[..len])
            .unwrap()
            .starts_with("STOPPING=1"));
    }

    #[test]
    fn without_notify_socket_nothing_is_sent() {
        assert!(!Notifier { target: None }.enabled());
        assert!(Notifier { target: None }.notify("READY=1").is_ok());
    }
}
