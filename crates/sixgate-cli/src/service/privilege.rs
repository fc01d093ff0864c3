//! `user = "NAME"` (`--user`): a daemon started as root by hand (not by its systemd unit,
//! which starts it as a dynamic user with only the capabilities it needs) becomes that
//! user once its devices and sockets are open.
//!
//! The drop sets the supplementary groups to the user's primary group alone, then the
//! group, then the user (real, effective and saved IDs: `setuid` as root sets all three).
//! With every user ID non-zero the kernel clears the permitted, effective and ambient
//! capability sets (capabilities(7), "Effect of user ID changes on capabilities"): none is
//! left, and none is needed, since the TUN queues and raw sockets stay open. glibc applies
//! the ID changes to every thread of the process (the metrics thread started before the
//! drop included). `no_new_privs`, a per-thread flag, is then set on the calling thread and
//! so on every thread it starts after (the workers): an `execve` (there is none) could not
//! gain any privilege back through set-user-ID or file capabilities.

use nix::unistd::{Gid, Uid, User};

use crate::daemon::log;
use crate::CliError;

/// What [`drop_to`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Dropped {
    /// No user asked for.
    NotAsked,
    /// Not root to begin with: the process runs on as it is.
    NotRoot(Uid),
    /// Now runs as this user and group.
    To(Uid, Gid),
}

/// Becomes `user` (by name, or a numeric user ID) when running as root; `daemon` leads the
/// log line. A user that does not exist, or a failed drop, is an error: the daemon must not
/// run on as root when asked not to.
pub(crate) fn drop_to(user: Option<&str>, daemon: &str) -> Result<Dropped, CliError> {
    let Some(name) = user else { return Ok(Dropped::NotAsked) };
    let euid = nix::unistd::geteuid();
    if !euid.is_root() {
        log!("{daemon}: user {name:?}: not started as root (uid {euid}), so nothing to drop; running on as uid {euid}");
        return Ok(Dropped::NotRoot(euid));
    }
    let found = match name.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(name),
    }
    .map_err(|e| CliError::failure(format!("user {name:?}: cannot look it up: {e}")))?;
    let Some(u) = found else {
        return Err(CliError::input(format!(
            "user {name:?}: no such user; create it (`useradd --system --no-create-home --shell /usr/sbin/nologin \
             {name}`) or name another"
        )));
    };
    if u.uid.is_root() {
        return Err(CliError::input(format!("user {name:?}: is root (uid 0); name an unprivileged user")));
    }
    let fail = |what: &str, e: nix::Error| CliError::failure(format!("user {name:?}: {what} failed: {e}"));
    // Groups first: once the user ID is not root, they cannot be changed any more.
    nix::unistd::setgroups(&[u.gid]).map_err(|e| fail("setgroups", e))?;
    nix::unistd::setgid(u.gid).map_err(|e| fail("setgid", e))?;
    nix::unistd::setuid(u.uid).map_err(|e| fail("setuid", e))?;
    // A drop that can be undone is none: root must be out of reach now.
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok() || nix::unistd::geteuid() != u.uid {
        return Err(CliError::failure(format!("user {name:?}: the process could still become root")));
    }
    nix::sys::prctl::set_no_new_privs().map_err(|e| fail("PR_SET_NO_NEW_PRIVS", e))?;
    log!("{daemon}: running as user {} (uid {}, gid {}), without capabilities", u.name, u.uid, u.gid);
    Ok(Dropped::To(u.uid, u.gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_user_is_no_drop() {
        assert_eq!(drop_to(None, "test").unwrap(), Dropped::NotAsked);
    }
}
