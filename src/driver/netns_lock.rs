//! One lock per network namespace, held by the running rswand: it tells a starting rswand
//! whether the rswan-owned kernel state in its namespace belongs to a live daemon (leave it) or
//! to one that died (remove it). The kernel releases the lock when its holder dies, SIGKILL
//! included, so a stale lock file cannot block recovery.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Where the locks live: the unit's RuntimeDirectory, writable under ProtectSystem=strict.
pub const LOCK_DIR: &str = "/run/rswan";

pub enum NetnsLock {
    /// We hold it: nothing else of ours runs in this namespace.
    Held(Flock<File>),
    /// Another live rswand holds it.
    Busy(PathBuf),
    /// No lock could be taken (no /run/rswan, no /proc); why, in words.
    Unavailable(String),
}

/// Takes the lock of the current network namespace in `dir`.
pub fn take(dir: &Path) -> NetnsLock {
    let ino = match std::fs::metadata("/proc/self/ns/net") {
        Ok(m) => m.ino(),
        Err(e) => return NetnsLock::Unavailable(format!("/proc/self/ns/net: {e}")),
    };
    take_for(dir, ino)
}

fn take_for(dir: &Path, netns: u64) -> NetnsLock {
    if let Err(e) = std::fs::create_dir_all(dir) {
        return NetnsLock::Unavailable(format!("{}: {e}", dir.display()));
    }
    let path = dir.join(format!("netns-{netns}.lock"));
    let file = match OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) => return NetnsLock::Unavailable(format!("{}: {e}", path.display())),
    };
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => NetnsLock::Held(l),
        Err((_, Errno::EWOULDBLOCK)) => NetnsLock::Busy(path),
        Err((_, e)) => NetnsLock::Unavailable(format!("{}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_finds_it_busy_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = take_for(dir.path(), 4026531840);
        assert!(matches!(first, NetnsLock::Held(_)));
        assert!(matches!(
            take_for(dir.path(), 4026531840),
            NetnsLock::Busy(_)
        ));
        assert!(
            matches!(take_for(dir.path(), 4026532000), NetnsLock::Held(_)),
            "another namespace has its own lock"
        );
        drop(first);
        assert!(matches!(
            take_for(dir.path(), 4026531840),
            NetnsLock::Held(_)
        ));
    }
}
