//! Who may do what over the control socket, decided from the client's SO_PEERCRED.
//!
//! The socket's mode (0660, root and the socket's group) decides who may connect at all; that is
//! enough for reading (status, list-*, diagnose, info-level logs). Changing state and watching
//! debug logs (which name SPIs, addresses and identities of every negotiation) need root or the
//! configured admin group; the live keys of `export-keys` need root and `settings.key_export`.

use super::protocol::{LogLevel, Request};

/// The client at the other end of the socket, as the kernel saw it connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

/// The parts of the configuration that decide access; replaced on reload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// `settings.admin_group`: a group name or number.
    pub admin_group: Option<String>,
    /// `settings.key_export` is set.
    pub key_export: bool,
}

/// What a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Anyone who could connect.
    Connect,
    /// Root or the admin group.
    Admin,
    /// Root, with key export enabled.
    RootKeyExport,
}

pub fn need(req: &Request) -> Need {
    match req {
        Request::Status | Request::ListSas | Request::ListConns | Request::Diagnose { .. } => {
            Need::Connect
        }
        Request::Log { level, .. } => match level {
            Some(LogLevel::Debug | LogLevel::Trace) => Need::Admin,
            _ => Need::Connect,
        },
        Request::Up { .. } | Request::Down { .. } | Request::Reload => Need::Admin,
        Request::ExportKeys => Need::RootKeyExport,
    }
}

/// The command as an operator typed it, for messages.
pub fn command_name(req: &Request) -> String {
    match req {
        Request::Status => "status".into(),
        Request::ListSas => "list-sas".into(),
        Request::ListConns => "list-conns".into(),
        Request::Up { conn, child, .. } => format!("up {}", target(conn, child)),
        Request::Down { conn, child } => format!("down {}", target(conn, child)),
        Request::Reload => "reload".into(),
        Request::Diagnose { conn, .. } => format!("diagnose {conn}"),
        Request::ExportKeys => "export-keys".into(),
        Request::Log { level, .. } => match level {
            Some(l) => format!("log --level {}", l.as_str()),
            None => "log".into(),
        },
    }
}

fn target(conn: &str, child: &Option<String>) -> String {
    match child {
        Some(c) => format!("{}/{}", short(conn), short(c)),
        None => short(conn),
    }
}

/// Names as the client sent them, cut short: a request line may be 64 KB, a log line should not.
fn short(name: &str) -> String {
    const MAX: usize = 64;
    if name.chars().count() <= MAX {
        return name.to_owned();
    }
    let mut s: String = name.chars().take(MAX).collect();
    s.push('…');
    s
}

/// Decides whether `peer` may make `req`. `in_group(group, peer)` says whether the peer belongs
/// to the named group (the system's group database in the daemon, a table in tests). The error
/// is the sentence the client sees.
pub fn authorize(
    req: &Request,
    peer: &Peer,
    policy: &AccessPolicy,
    in_group: impl Fn(&str, &Peer) -> bool,
) -> Result<(), String> {
    let root = peer.uid == 0;
    let cmd = command_name(req);
    let verb = cmd.split(' ').next().unwrap_or_default();
    match need(req) {
        Need::Connect => Ok(()),
        Need::Admin if root => Ok(()),
        Need::Admin => match &policy.admin_group {
            Some(g) if in_group(g, peer) => Ok(()),
            Some(g) => Err(format!(
                "permission denied: '{verb}' needs root or group {g} (uid {} is in neither)",
                peer.uid
            )),
            None => Err(format!(
                "permission denied: '{verb}' needs root (no settings.admin_group is configured)"
            )),
        },
        Need::RootKeyExport if !root => Err(format!(
            "permission denied: '{verb}' needs root (uid {})",
            peer.uid
        )),
        Need::RootKeyExport if !policy.key_export => Err(format!(
            "permission denied: '{verb}' is off: it needs settings.key_export in the configuration"
        )),
        Need::RootKeyExport => Ok(()),
    }
}

/// Whether `peer` belongs to `group` (a name or a number) in the system's group database: its
/// primary group, or a member listed for the group. An unknown group has no members.
pub fn system_in_group(group: &str, peer: &Peer) -> bool {
    use nix::unistd::{Gid, Group, Uid, User};
    let found = match group.parse::<u32>() {
        Ok(n) => Group::from_gid(Gid::from_raw(n)),
        Err(_) => Group::from_name(group),
    };
    let Ok(Some(g)) = found else {
        return false;
    };
    if g.gid.as_raw() == peer.gid {
        return true;
    }
    match User::from_uid(Uid::from_raw(peer.uid)) {
        Ok(Some(u)) => u.gid == g.gid || g.mem.contains(&u.name),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32) -> Peer {
        Peer {
            uid,
            gid,
            pid: Some(4242),
        }
    }

    fn down() -> Request {
        Request::Down {
            conn: "west-east".into(),
            child: None,
        }
    }

    /// uid 1001 is in "vpnadmin", uid 1000 is not.
    fn table(group: &str, p: &Peer) -> bool {
        group == "vpnadmin" && p.uid == 1001
    }

    fn admins(group: Option<&str>, key_export: bool) -> AccessPolicy {
        AccessPolicy {
            admin_group: group.map(str::to_owned),
            key_export,
        }
    }

    #[test]
    fn reading_is_open_to_anyone_who_can_connect() {
        let reads = [
            Request::Status,
            Request::ListSas,
            Request::ListConns,
            Request::Diagnose {
                conn: "x".into(),
                sample_ms: None,
            },
            Request::Log {
                peer: None,
                level: Some(LogLevel::Info),
            },
        ];
        for r in reads {
            assert_eq!(
                authorize(&r, &peer(1000, 1000), &admins(None, false), table),
                Ok(())
            );
        }
    }

    #[test]
    fn state_changes_need_root_or_the_admin_group() {
        let changes = [
            down(),
            Request::Up {
                conn: "west-east".into(),
                child: None,
                timeout: None,
            },
            Request::Reload,
            Request::Log {
                peer: None,
                level: Some(LogLevel::Debug),
            },
        ];
        for r in &changes {
            let e = authorize(r, &peer(1000, 1000), &admins(None, false), table).unwrap_err();
            assert!(e.starts_with("permission denied:"), "{e}");
            assert!(e.contains("needs root"), "{e}");
            let e = authorize(
                r,
                &peer(1000, 1000),
                &admins(Some("vpnadmin"), false),
                table,
            )
            .unwrap_err();
            assert!(e.contains("needs root or group vpnadmin"), "{e}");
            assert_eq!(
                authorize(
                    r,
                    &peer(1001, 1001),
                    &admins(Some("vpnadmin"), false),
                    table
                ),
                Ok(())
            );
            assert_eq!(
                authorize(r, &peer(0, 0), &admins(None, false), table),
                Ok(())
            );
        }
        let e = authorize(
            &down(),
            &peer(1000, 1000),
            &admins(Some("vpnadmin"), false),
            table,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "permission denied: 'down' needs root or group vpnadmin (uid 1000 is in neither)"
        );
    }

    #[test]
    fn long_names_are_cut_in_messages() {
        let r = Request::Down {
            conn: "x".repeat(10_000),
            child: None,
        };
        assert_eq!(command_name(&r).chars().count(), "down ".len() + 65);
    }

    #[test]
    fn export_keys_needs_root_and_key_export() {
        let r = Request::ExportKeys;
        // The admin group is not enough for live keys.
        let e = authorize(
            &r,
            &peer(1001, 1001),
            &admins(Some("vpnadmin"), true),
            table,
        )
        .unwrap_err();
        assert!(e.contains("needs root"), "{e}");
        let e = authorize(&r, &peer(0, 0), &admins(None, false), table).unwrap_err();
        assert!(e.contains("settings.key_export"), "{e}");
        assert_eq!(
            authorize(&r, &peer(0, 0), &admins(None, true), table),
            Ok(())
        );
    }

    #[test]
    fn group_lookup_by_number_and_primary_group() {
        // gid 0 exists on every system; a peer whose primary group it is belongs to it.
        assert!(system_in_group("0", &peer(1000, 0)));
        assert!(!system_in_group("no-such-group-rswan", &peer(0, 0)));
    }
}
