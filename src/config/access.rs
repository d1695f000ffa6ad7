//! `[access]`: who may do what through the supervisor's socket. The supervisor decides, from
//! the uid and groups the kernel reports for the connection (`SO_PEERCRED`), not from anything
//! the client says (`supervisor::control::access`).
//!
//! ```toml
//! [access]
//! operators = ["alice", "@oncall"]   # users, or @group: every command
//! viewers = ["bob", "@staff"]        # users, or @group: the console, read-only, and `ctl status`
//! ```
//!
//! Root, and the user the supervisor runs as, are operators whatever the lists say. With no
//! `[access]` only they may connect, and the socket is mode 0600; with one, the socket is
//! 0666 and every connection is checked against the lists (anyone else is refused).

use super::{ConfigError, Locator};
use toml::Spanned;

/// A user by name, or every member of a group (`@name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    User(String),
    Group(String),
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::User(u) => f.write_str(u),
            Principal::Group(g) => write!(f, "@{g}"),
        }
    }
}

/// The validated `[access]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    pub operators: Vec<Principal>,
    pub viewers: Vec<Principal>,
}

impl Access {
    /// Whether anyone besides root and the supervisor's own user may connect.
    pub fn opens_the_socket(&self) -> bool {
        !self.operators.is_empty() || !self.viewers.is_empty()
    }
}

/// `[access]` as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccess {
    #[serde(default)]
    pub operators: Vec<Spanned<String>>,
    #[serde(default)]
    pub viewers: Vec<Spanned<String>>,
}

pub(super) fn access(raw: &RawAccess, at: &Locator) -> Result<Access, ConfigError> {
    let list = |key: &str, names: &[Spanned<String>]| -> Result<Vec<(Principal, Spanned<String>)>, ConfigError> {
        let mut out: Vec<(Principal, Spanned<String>)> = Vec::new();
        for n in names {
            let p = principal(n.get_ref()).map_err(|e| at.err(Some(n.span()), format!("access.{key}: {e}")))?;
            if out.iter().any(|(o, _)| *o == p) {
                return Err(at.err(Some(n.span()), format!("access.{key}: {p} is listed twice")));
            }
            out.push((p, n.clone()));
        }
        Ok(out)
    };
    let operators = list("operators", &raw.operators)?;
    let viewers = list("viewers", &raw.viewers)?;
    if let Some((p, span)) = viewers.iter().find(|(v, _)| operators.iter().any(|(o, _)| o == v)) {
        return Err(
            at.err(Some(span.span()), format!("access: {p} is both an operator and a viewer; list it in one of them"))
        );
    }
    Ok(Access {
        operators: operators.into_iter().map(|(p, _)| p).collect(),
        viewers: viewers.into_iter().map(|(p, _)| p).collect(),
    })
}

/// A user or `@group` name, as useradd(8) would take it.
fn principal(text: &str) -> Result<Principal, String> {
    let (name, group) = match text.strip_prefix('@') {
        Some(g) => (g, true),
        None => (text, false),
    };
    let valid = !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'));
    if !valid {
        return Err(format!("{text:?} is not a user name or @group"));
    }
    Ok(if group { Principal::Group(name.into()) } else { Principal::User(name.into()) })
}
