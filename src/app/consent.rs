//! The command line's side of `core::consent`: `3rc ctl` and `3rc reinstall` ask for the consent
//! a command needs on a terminal (a yes, or the name typed, as the console's dialog does), and
//! take `--yes` as consent given in advance. Without a terminal and without `--yes`, nothing is
//! sent. The control socket checks again, whatever client sends the command.

use crate::core::{Command, Confirmation, Consent};
use std::io::{BufRead, IsTerminal, Write};

/// The consent for `cmd`: none needed, `--yes`, or asked on the terminal (after `detail`, lines
/// that say more about what is at stake). An error, and nothing sent, otherwise.
pub fn ask(cmd: &Command, yes: bool, detail: &[String]) -> anyhow::Result<Confirmation> {
    let need = cmd.consent();
    if need == Consent::NotNeeded {
        return Ok(Confirmation::NotNeeded);
    }
    if yes {
        return Ok(Confirmation::Flag);
    }
    if !std::io::stdin().is_terminal() {
        let why = crate::core::consent::refusal(cmd).unwrap_or_default();
        anyhow::bail!("{why}; nothing was sent");
    }
    eprintln!("{cmd}: {}", cmd.consequence());
    for line in detail {
        eprintln!("{line}");
    }
    let answer = |prompt: &str| -> anyhow::Result<String> {
        eprint!("{prompt}");
        std::io::stderr().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim().to_string())
    };
    match need {
        Consent::NotNeeded => Ok(Confirmation::NotNeeded),
        Consent::Confirm => match answer("Proceed? [y/N] ")?.to_lowercase().as_str() {
            "y" | "yes" => Ok(Confirmation::Answered),
            _ => anyhow::bail!("not confirmed: nothing was sent"),
        },
        Consent::TypeName(name) => {
            if answer(&format!("Type {name} to confirm: "))? == name {
                Ok(Confirmation::Typed(name))
            } else {
                anyhow::bail!("not confirmed: {name} is left as it is")
            }
        }
    }
}
