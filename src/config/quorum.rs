//! `[quorum]`: the witnesses, the votes besides the hosts that an automatic fence needs a
//! majority of (`core::quorum`).
//!
//! ```toml
//! [quorum]
//! witnesses = ["gateway", "ping:10.0.0.1", "tcp:quorum1.example:22"]   # default: ["gateway"]
//! ```

use super::{ConfigError, Locator};
use toml::Spanned;

/// How a witness is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WitnessCheck {
    /// This machine's IPv4 default gateway, by ping (found when 3RC starts).
    Gateway,
    /// One ICMP echo to this address.
    Ping(String),
    /// A TCP connection (a refusal counts as an answer).
    Tcp(String, u16),
}

/// One witness: its name in the votes (as written in the config) and how it is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessConfig {
    pub name: String,
    pub check: WitnessCheck,
}

/// The witnesses as written, or the default; and what a reader should know about the votes.
pub(super) fn witnesses(
    raw: Option<&Spanned<Vec<Spanned<String>>>>,
    hosts: usize,
    at: &Locator,
) -> Result<(Vec<WitnessConfig>, Vec<String>), ConfigError> {
    let mut out: Vec<WitnessConfig> = Vec::new();
    match raw {
        None => out.push(WitnessConfig { name: "gateway".into(), check: WitnessCheck::Gateway }),
        Some(list) => {
            for w in list.get_ref() {
                let text = w.get_ref().trim();
                let check = parse(text).map_err(|e| at.err(Some(w.span()), format!("quorum.witnesses: {e}")))?;
                if out.iter().any(|o| o.name == text) {
                    return Err(at.err(Some(w.span()), format!("quorum.witnesses: {text:?} is listed twice")));
                }
                out.push(WitnessConfig { name: text.to_string(), check });
            }
        }
    }
    let mut warnings = Vec::new();
    if hosts + out.len() < 3 {
        warnings.push(format!(
            "quorum: {hosts} host(s) and {} witness(es) make {} votes: when one fails, no majority remains and \
             no host is fenced automatically (a person must confirm it off); add a witness to [quorum] witnesses",
            out.len(),
            hosts + out.len()
        ));
    }
    Ok((out, warnings))
}

fn parse(text: &str) -> Result<WitnessCheck, String> {
    if text == "gateway" {
        return Ok(WitnessCheck::Gateway);
    }
    if let Some(addr) = text.strip_prefix("ping:") {
        if addr.is_empty() || addr.contains(char::is_whitespace) || addr.starts_with('-') {
            return Err(format!("{text:?}: expected ping:ADDRESS"));
        }
        return Ok(WitnessCheck::Ping(addr.to_string()));
    }
    if let Some(rest) = text.strip_prefix("tcp:") {
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| format!("{text:?}: expected tcp:HOST:PORT"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port: u16 = port.parse().map_err(|_| format!("{text:?}: {port:?} is not a port number"))?;
        if host.is_empty() || port == 0 {
            return Err(format!("{text:?}: expected tcp:HOST:PORT"));
        }
        return Ok(WitnessCheck::Tcp(host.to_string(), port));
    }
    Err(format!("unknown witness {text:?}: use \"gateway\", \"ping:ADDRESS\" or \"tcp:HOST:PORT\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn witnesses_are_parsed_or_named_in_the_error() {
        assert_eq!(parse("gateway"), Ok(WitnessCheck::Gateway));
        assert_eq!(parse("ping:10.0.0.1"), Ok(WitnessCheck::Ping("10.0.0.1".into())));
        assert_eq!(parse("tcp:quorum1:22"), Ok(WitnessCheck::Tcp("quorum1".into(), 22)));
        assert_eq!(parse("tcp:[fd00::1]:22"), Ok(WitnessCheck::Tcp("fd00::1".into(), 22)));
        assert!(parse("tcp:quorum1").unwrap_err().contains("expected tcp:HOST:PORT"));
        assert!(parse("tcp:q:http").unwrap_err().contains("is not a port number"));
        assert!(parse("ping:-f").is_err());
        assert!(parse("icmp:10.0.0.1").unwrap_err().contains("unknown witness"));
    }
}
