//! Keeps the daemon's memory (IKE and ESP keys, PSKs, private keys) out of core dumps and away
//! from ptrace by processes of the same uid.

/// Marks the process non-dumpable (PR_SET_DUMPABLE 0): no core file is written if it crashes,
/// and /proc/<pid>/mem, ptrace attach and the like need CAP_SYS_PTRACE even for the same uid.
/// Called before any secret is read. A failure is returned for the caller to log; the daemon
/// still runs (the unit's LimitCORE=0 covers core files).
pub fn forbid_dumps() -> nix::Result<()> {
    nix::sys::prctl::set_dumpable(false)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_is_no_longer_dumpable() {
        super::forbid_dumps().unwrap();
        assert!(!nix::sys::prctl::get_dumpable().unwrap());
    }
}
