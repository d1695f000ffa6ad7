//! Key strings as tests and benchmarks write them: `"m<down><enter>"` (the helix way).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Parse a key string the way helix tests do: plain characters, and `<tab>`, `<up>`, `<down>`,
/// `<pgup>`, `<pgdown>`, `<home>`, `<end>`, `<enter>`, `<esc>`, `<C-x>`.
pub fn parse(seq: &str) -> Result<Vec<KeyEvent>, String> {
    let mut out = Vec::new();
    let mut rest = seq;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            let end = rest.find('>').ok_or_else(|| format!("unclosed < in {seq:?}"))?;
            let name = &rest[1..end];
            rest = &rest[end + 1..];
            let ev = match name {
                "tab" => KeyEvent::from(KeyCode::Tab),
                "up" => KeyEvent::from(KeyCode::Up),
                "down" => KeyEvent::from(KeyCode::Down),
                "pgup" => KeyEvent::from(KeyCode::PageUp),
                "pgdown" => KeyEvent::from(KeyCode::PageDown),
                "home" => KeyEvent::from(KeyCode::Home),
                "end" => KeyEvent::from(KeyCode::End),
                "enter" => KeyEvent::from(KeyCode::Enter),
                "esc" => KeyEvent::from(KeyCode::Esc),
                "backspace" => KeyEvent::from(KeyCode::Backspace),
                "left" => KeyEvent::from(KeyCode::Left),
                "right" => KeyEvent::from(KeyCode::Right),
                "space" => KeyEvent::from(KeyCode::Char(' ')),
                n if n.starts_with("C-") && n.len() == 3 => {
                    KeyEvent::new(KeyCode::Char(n.as_bytes()[2] as char), KeyModifiers::CONTROL)
                }
                n => return Err(format!("unknown key <{n}> in {seq:?}")),
            };
            out.push(ev);
        } else {
            rest = &rest[c.len_utf8()..];
            let mods = if c.is_ascii_uppercase() { KeyModifiers::SHIFT } else { KeyModifiers::NONE };
            out.push(KeyEvent::new(KeyCode::Char(c), mods));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_characters_and_errors() {
        let keys = parse("aG<tab><C-c>").unwrap();
        assert_eq!(keys[1], KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT));
        assert_eq!(keys[2].code, KeyCode::Tab);
        assert_eq!(keys[3], KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert_eq!(parse("<nope>").unwrap_err(), "unknown key <nope> in \"<nope>\"");
        assert!(parse("<tab").unwrap_err().contains("unclosed"));
    }
}
