//! Translation of libvirt errors into the supervisor's `HvError`.
//!
//! The supervisor reacts differently to "the host is gone" (hysteresis, fencing), "the domain is
//! gone" (inventory), "the driver cannot do this" (fall back, e.g. cold relocation instead of live
//! migration) and everything else, so the mapping decides real behaviour. It works on libvirt's
//! error code and domain first and looks at the message only where libvirt gives nothing better.

use threerc_hv::HvError;
use virt::error::{Error, ErrorDomain, ErrorNumber};

/// What a libvirt error means for the supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    NoDomain,
    Unsupported,
    /// The connection itself failed: drop it and reconnect on the next call.
    Unreachable,
    /// The host refused a new connection (its daemon is down, the host is up).
    Refused,
    Failed,
}

/// Classify an error by its parts (kept free of `virt::error::Error`, whose fields are private,
/// so that the table can be tested).
pub(super) fn classify(code: Option<ErrorNumber>, domain: Option<ErrorDomain>, message: &str) -> Kind {
    let lower = message.to_ascii_lowercase();
    // "unable to connect to server at 'hv2:16509': Connection refused" (RPC domain, system
    // error): the host's kernel answered a new connection with a reset, so it runs now. An
    // open connection that ends ("end of file while reading data") proves less: a host that
    // dies closes it too, the moment before it goes silent.
    if lower.contains("connection refused") {
        return Kind::Refused;
    }
    match code {
        Some(ErrorNumber::NoDomain) => return Kind::NoDomain,
        Some(ErrorNumber::NoSupport | ErrorNumber::ArgumentUnsupported | ErrorNumber::OperationUnsupported) => {
            return Kind::Unsupported
        }
        Some(ErrorNumber::NoConnect | ErrorNumber::InvalidConn | ErrorNumber::Rpc) => return Kind::Unreachable,
        _ => {}
    }
    // RPC-layer errors (socket closed, keepalive timeout, connection refused) all come from the
    // RPC domain whatever their code.
    if domain == Some(ErrorDomain::Rpc) {
        return Kind::Unreachable;
    }
    const CONNECTION_LOST: [&str; 3] =
        ["client socket is closed", "keepalive timeout", "end of file while reading data"];
    if CONNECTION_LOST.iter().any(|m| lower.contains(m)) {
        return Kind::Unreachable;
    }
    if lower.contains("not supported") {
        return Kind::Unsupported;
    }
    Kind::Failed
}

pub(super) fn kind(e: &Error) -> Kind {
    classify(e.code().known(), e.domain().known(), e.message())
}

/// Map a libvirt error to `HvError`, keeping libvirt's message. `vm` names the domain the call
/// was about, so that `NoDomain` carries the name the supervisor asked for.
pub(super) fn to_hv(e: &Error, vm: Option<&str>) -> HvError {
    let message = e.message().to_string();
    match kind(e) {
        Kind::NoDomain => HvError::NoDomain(vm.map(str::to_string).unwrap_or(message)),
        Kind::Unsupported => HvError::Unsupported(message),
        Kind::Unreachable => HvError::Unreachable(message),
        Kind::Refused => HvError::Refused(message),
        Kind::Failed => HvError::Failed(message),
    }
}

/// "Requested operation is not valid: domain is not running" (destroy/shutdown of an off domain).
pub(super) fn is_not_running(e: &Error) -> bool {
    e.code().known() == Some(ErrorNumber::OperationInvalid) && e.message().to_ascii_lowercase().contains("not running")
}

/// The driver rejected the flags of a call, not the call itself: retry with fewer flags.
/// The test driver answers `VIR_ERR_INVALID_ARG` "unsupported flags (0x14) in function ...".
pub(super) fn is_flags_rejected(e: &Error) -> bool {
    kind(e) == Kind::Unsupported
        || (e.code().known() == Some(ErrorNumber::InvalidArg)
            && e.message().to_ascii_lowercase().contains("unsupported flags"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_decide_before_messages() {
        let k = |c, d, m| classify(Some(c), Some(d), m);
        assert_eq!(k(ErrorNumber::NoDomain, ErrorDomain::Test, "Domain not found"), Kind::NoDomain);
        assert_eq!(k(ErrorNumber::NoSupport, ErrorDomain::Domain, "this function is not supported"), Kind::Unsupported);
        assert_eq!(
            k(ErrorNumber::ArgumentUnsupported, ErrorDomain::Domain, "p2p migration is not supported"),
            Kind::Unsupported
        );
        assert_eq!(
            k(ErrorNumber::SystemError, ErrorDomain::Rpc, "Failed to connect socket to '/x'"),
            Kind::Unreachable
        );
        assert_eq!(k(ErrorNumber::InternalError, ErrorDomain::Rpc, "client socket is closed"), Kind::Unreachable);
        assert_eq!(
            k(
                ErrorNumber::SystemError,
                ErrorDomain::Rpc,
                "unable to connect to server at '10.233.7.12:16509': Connection refused"
            ),
            Kind::Refused
        );
        assert_eq!(k(ErrorNumber::InvalidConn, ErrorDomain::Remote, "invalid connection"), Kind::Unreachable);
        assert_eq!(k(ErrorNumber::XmlError, ErrorDomain::Test, "failed to parse xml document"), Kind::Failed);
        assert_eq!(k(ErrorNumber::OperationInvalid, ErrorDomain::Domain, "domain is already running"), Kind::Failed);
    }

    #[test]
    fn messages_are_the_last_resort() {
        assert_eq!(
            classify(None, None, "internal error: connection closed due to keepalive timeout"),
            Kind::Unreachable
        );
        assert_eq!(classify(None, None, "operation not supported here"), Kind::Unsupported);
        assert_eq!(classify(None, None, "End of file while reading data: Input/output error"), Kind::Unreachable);
        assert_eq!(classify(None, None, "something else"), Kind::Failed);
    }
}
