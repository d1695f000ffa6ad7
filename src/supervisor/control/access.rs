//! Who is at the other end of a connection, and what they may do: the uid the kernel reports
//! for the socket (`SO_PEERCRED`), its user's groups from the system's user database (NSS, so
//! LDAP and sssd users count), matched against `[access]`. Nothing the client says counts.

use crate::config::{Access, Principal};
use serde::{Deserialize, Serialize};

/// What a connection may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Every command.
    Operator,
    /// Look only: the console read-only, `ctl status`; every command refused.
    Viewer,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        })
    }
}

/// The person behind a connection, as the kernel and the user database say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    /// The user's name, or `uid N` when the user database has none.
    pub name: String,
    pub role: Role,
}

impl Peer {
    /// How the journal names them with what their client says (`console:alice (uid 1000)`).
    pub fn origin(&self, kind: &str, claimed: &str) -> String {
        let claimed = if claimed.is_empty() { self.name.as_str() } else { claimed };
        format!("{kind}:{claimed} (uid {})", self.uid)
    }
}

/// The role of the user `uid` (primary group `gid`), or why they may not connect. Root and the
/// supervisor's own user are operators.
pub fn peer(access: &Access, uid: u32, gid: u32) -> Result<Peer, String> {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)).ok().flatten();
    let name = user.as_ref().map(|u| u.name.clone()).unwrap_or_else(|| format!("uid {uid}"));
    let groups = user.as_ref().map(|u| groups_of(u, gid)).unwrap_or_default();
    let is = |p: &Principal| match p {
        Principal::User(u) => user.as_ref().is_some_and(|x| &x.name == u),
        Principal::Group(g) => groups.iter().any(|x| x == g),
    };
    let role = if uid == 0 || uid == nix::unistd::geteuid().as_raw() || access.operators.iter().any(is) {
        Role::Operator
    } else if access.viewers.iter().any(is) {
        Role::Viewer
    } else {
        let who = if user.is_some() { format!("{name} (uid {uid})") } else { name };
        return Err(format!("{who} is neither an operator nor a viewer in the config's [access]"));
    };
    Ok(Peer { uid, name, role })
}

/// The names of the groups `user` belongs to (its primary group `gid` included).
fn groups_of(user: &nix::unistd::User, gid: u32) -> Vec<String> {
    let Ok(cname) = std::ffi::CString::new(user.name.clone()) else { return Vec::new() };
    let gids = nix::unistd::getgrouplist(&cname, nix::unistd::Gid::from_raw(gid))
        .unwrap_or_else(|_| vec![nix::unistd::Gid::from_raw(gid)]);
    gids.into_iter().filter_map(|g| nix::unistd::Group::from_gid(g).ok().flatten().map(|g| g.name)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(operators: &[&str], viewers: &[&str]) -> Access {
        let p = |s: &&str| match s.strip_prefix('@') {
            Some(g) => Principal::Group(g.into()),
            None => Principal::User(s.to_string()),
        };
        Access { operators: operators.iter().map(p).collect(), viewers: viewers.iter().map(p).collect() }
    }

    /// `nobody` (65534) and its group `nogroup` exist on every Debian system.
    const NOBODY: u32 = 65534;

    #[test]
    fn root_is_an_operator_whatever_the_lists_say() {
        let p = peer(&access(&[], &["root"]), 0, 0).unwrap();
        assert_eq!((p.role, p.name.as_str()), (Role::Operator, "root"));
    }

    #[test]
    fn users_and_groups_map_to_roles() {
        let p = peer(&access(&[], &["nobody"]), NOBODY, NOBODY).unwrap();
        assert_eq!((p.role, p.name.as_str()), (Role::Viewer, "nobody"));
        let p = peer(&access(&["@nogroup"], &[]), NOBODY, NOBODY).unwrap();
        assert_eq!(p.role, Role::Operator, "by its primary group");
        assert_eq!(p.origin("console", ""), "console:nobody (uid 65534)");
        assert_eq!(p.origin("cli", "alice"), "cli:alice (uid 65534)");
    }

    #[test]
    fn anyone_else_is_refused_by_name_and_uid() {
        let e = peer(&access(&["alice"], &["@staff"]), NOBODY, NOBODY).unwrap_err();
        assert_eq!(e, "nobody (uid 65534) is neither an operator nor a viewer in the config's [access]");
        let e = peer(&access(&[], &[]), 4_000_000, 4_000_000).unwrap_err();
        assert_eq!(e, "uid 4000000 is neither an operator nor a viewer in the config's [access]");
    }
}
