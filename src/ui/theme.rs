//! Colour themes: every colour the console uses comes from a TOML file in `themes/`.
//!
//! `themes/default.toml` is compiled in ([`Theme::builtin_default`]), so that file is the single
//! source of the default palette and the binary works without the folder next to it. Another
//! theme may set only some keys; the rest come from the default. A mistake in a theme file is an
//! error naming the file and the key (`themes/x.toml: vm_state.Healthy: unknown colour "gren"`),
//! never a silently wrong colour.

use crate::core::{HostState, Severity, VmState};
use anyhow::{anyhow, bail, Context};
use ratatui::style::{Color, Style};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

const DEFAULT_TOML: &str = include_str!("../../themes/default.toml");
const DEFAULT_ORIGIN: &str = "themes/default.toml (built in)";

/// The themes shipped in `themes/`, compiled in so the binary works without the folder.
const BUILTINS: [(&str, &str); 4] = [
    ("default", DEFAULT_TOML),
    ("light", include_str!("../../themes/light.toml")),
    ("high-contrast", include_str!("../../themes/high-contrast.toml")),
    ("monochrome", include_str!("../../themes/monochrome.toml")),
];

/// The theme used when `NO_COLOR` is set and no theme is asked for on the command line.
pub const NO_COLOR_THEME: &str = "monochrome";

/// Declares a section of plain named colours once: the struct, its section name and its keys.
macro_rules! palette {
    (
        $(#[$doc:meta])* $name:ident, $section:literal
        { $($(#[$fdoc:meta])* $field:ident),* $(,)? }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name {
            $($(#[$fdoc])* pub $field: Color,)*
        }

        impl $name {
            const SECTION: &'static str = $section;
            const KEYS: &'static [&'static str] = &[$(stringify!($field)),*];

            fn build(c: &Colours) -> anyhow::Result<Self> {
                Ok(Self { $($field: c.get(Self::SECTION, stringify!($field))?,)* })
            }

            fn entries(&self) -> Vec<(&'static str, Color)> {
                vec![$((stringify!($field), self.$field)),*]
            }
        }
    };
}

palette!(
    /// The frame of the console: text, borders, tables, title and status bar.
    UiColours, "ui" {
        background, foreground,
        /// Secondary text: placeholders, reasons.
        dim,
        border, border_focus, title, header,
        selection_fg, selection_bg,
        /// The selection of the table that does not have the focus.
        selection_inactive_fg, selection_inactive_bg,
        status_fg, status_bg, key_hint,
        armed, disarmed, injector_on, injector_off,
    }
);

palette!(
    /// Unacknowledged alarms, by severity.
    AlarmColours, "alarm" { info, warning, critical }
);

palette!(
    /// Flash messages in the status bar, by level.
    FlashColours, "flash" { info, warning, error }
);

palette!(
    /// Lines of the log pane, by level.
    LogColours, "log" { error, warn, info, debug, trace }
);

const VM_STATE: &str = "vm_state";
const HOST_STATE: &str = "host_state";

#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub name: String,
    pub ui: UiColours,
    pub alarm: AlarmColours,
    pub flash: FlashColours,
    pub log: LogColours,
    /// Indexed like `VmState::ALL`.
    vm_state: [Color; VmState::ALL.len()],
    /// Indexed like `HostState::ALL`.
    host_state: [Color; HostState::ALL.len()],
}

impl Theme {
    /// The theme compiled in from `themes/default.toml`.
    pub fn builtin_default() -> Theme {
        static BUILTIN: OnceLock<Theme> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                // The file ships inside the binary and a unit test parses it: a failure here is a
                // build defect, not an input error.
                Theme::parse(DEFAULT_TOML, DEFAULT_ORIGIN, None)
                    .unwrap_or_else(|e| panic!("built-in theme is invalid: {e:#}"))
            })
            .clone()
    }

    /// Load a theme by name (`themes_dir/<name>.toml`) or by path (anything with a `/` or ending
    /// in `.toml`). `default` falls back to the built-in theme when the folder has no such file.
    pub fn load(name_or_path: &str, themes_dir: &Path) -> anyhow::Result<Theme> {
        let path = if is_path(name_or_path) {
            PathBuf::from(name_or_path)
        } else {
            let path = themes_dir.join(format!("{name_or_path}.toml"));
            if !path.is_file() {
                if name_or_path == "default" {
                    return Ok(Theme::builtin_default());
                }
                if let Some((name, text)) = BUILTINS.iter().find(|(n, _)| *n == name_or_path) {
                    let origin = format!("themes/{name}.toml (built in)");
                    return Theme::parse(text, &origin, Some(&Theme::builtin_default()));
                }
                bail!("theme \"{name_or_path}\": no file {} (themes there: {})", path.display(), available(themes_dir));
            }
            path
        };
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(&path).with_context(|| format!("{origin}: cannot read theme"))?;
        let base = Theme::builtin_default();
        Theme::parse(&text, &origin, Some(&base))
    }

    /// The session's theme: the command line's `--theme` wins; otherwise `NO_COLOR` (set and not
    /// empty, <https://no-color.org>) means monochrome; otherwise the config's theme, or default.
    pub fn select(
        cli: Option<&str>,
        config: Option<&str>,
        no_color: Option<&std::ffi::OsStr>,
        themes_dir: &Path,
    ) -> anyhow::Result<Theme> {
        let no_color = no_color.is_some_and(|v| !v.is_empty());
        match (cli, no_color, config) {
            (Some(name), _, _) => Theme::load(name, themes_dir),
            (None, true, _) => Theme::load(NO_COLOR_THEME, themes_dir),
            (None, false, Some(name)) => Theme::load(name, themes_dir),
            (None, false, None) => Ok(Theme::builtin_default()),
        }
    }

    /// The style of a selected row or focused button. A theme that leaves the selection's
    /// background to the terminal ("reset", monochrome) gets reverse video, so it still shows.
    pub fn selection(&self, focused: bool) -> Style {
        let (fg, bg) = if focused {
            (self.ui.selection_fg, self.ui.selection_bg)
        } else {
            (self.ui.selection_inactive_fg, self.ui.selection_inactive_bg)
        };
        let style = Style::new().fg(fg).bg(bg);
        if bg == Color::Reset {
            style.add_modifier(ratatui::style::Modifier::REVERSED)
        } else {
            style
        }
    }

    /// Parse theme text. `origin` names the file in errors. Keys missing from the text come from
    /// `base`; without a base every key is required.
    pub fn parse(text: &str, origin: &str, base: Option<&Theme>) -> anyhow::Result<Theme> {
        let table: toml::Table = toml::from_str(text).map_err(|e| anyhow!("{origin}: {e}"))?;
        let mut colours = Colours { origin, map: base.map(Theme::to_map).unwrap_or_default() };
        // A theme without a name is called after its file.
        let mut name = Path::new(origin).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        for (section, value) in &table {
            match (section.as_str(), value) {
                ("name", toml::Value::String(s)) => name = s.clone(),
                ("name", v) => bail!("{origin}: name: expected a string, found {}", v.type_str()),
                (_, toml::Value::Table(keys)) => colours.read_section(section, keys)?,
                (_, _) => {
                    let sections = SECTIONS.join(", ");
                    bail!("{origin}: {section}: unknown key (expected name or a section: {sections})")
                }
            }
        }
        Ok(Theme {
            name,
            ui: UiColours::build(&colours)?,
            alarm: AlarmColours::build(&colours)?,
            flash: FlashColours::build(&colours)?,
            log: LogColours::build(&colours)?,
            vm_state: try_array(VmState::ALL.map(|s| colours.get(VM_STATE, s.label())))?,
            host_state: try_array(HostState::ALL.map(|s| colours.get(HOST_STATE, s.label())))?,
        })
    }

    pub fn vm_state(&self, state: VmState) -> Color {
        let i = VmState::ALL.iter().position(|s| *s == state);
        i.map_or(self.ui.foreground, |i| self.vm_state[i])
    }

    pub fn host_state(&self, state: HostState) -> Color {
        let i = HostState::ALL.iter().position(|s| *s == state);
        i.map_or(self.ui.foreground, |i| self.host_state[i])
    }

    pub fn alarm(&self, severity: Severity) -> Color {
        match severity {
            Severity::Info => self.alarm.info,
            Severity::Warning => self.alarm.warning,
            Severity::Critical => self.alarm.critical,
        }
    }

    /// Plain text on the background.
    pub fn base(&self) -> Style {
        Style::new().fg(self.ui.foreground).bg(self.ui.background)
    }

    fn to_map(&self) -> BTreeMap<(String, String), Color> {
        let mut map = BTreeMap::new();
        let mut put = |section: &str, key: &str, c: Color| {
            map.insert((section.to_string(), key.to_string()), c);
        };
        for (section, entries) in [
            (UiColours::SECTION, self.ui.entries()),
            (AlarmColours::SECTION, self.alarm.entries()),
            (FlashColours::SECTION, self.flash.entries()),
            (LogColours::SECTION, self.log.entries()),
        ] {
            for (k, c) in entries {
                put(section, k, c);
            }
        }
        for (s, c) in VmState::ALL.iter().zip(self.vm_state) {
            put(VM_STATE, s.label(), c);
        }
        for (s, c) in HostState::ALL.iter().zip(self.host_state) {
            put(HOST_STATE, s.label(), c);
        }
        map
    }
}

/// The sections of a theme file, in the order of `themes/default.toml`.
const SECTIONS: [&str; 6] =
    [UiColours::SECTION, VM_STATE, HOST_STATE, AlarmColours::SECTION, FlashColours::SECTION, LogColours::SECTION];

/// The keys of a section, `None` for an unknown section.
fn section_keys(section: &str) -> Option<Vec<&'static str>> {
    Some(match section {
        VM_STATE => VmState::ALL.iter().map(|s| s.label()).collect(),
        HOST_STATE => HostState::ALL.iter().map(|s| s.label()).collect(),
        UiColours::SECTION => UiColours::KEYS.to_vec(),
        AlarmColours::SECTION => AlarmColours::KEYS.to_vec(),
        FlashColours::SECTION => FlashColours::KEYS.to_vec(),
        LogColours::SECTION => LogColours::KEYS.to_vec(),
        _ => return None,
    })
}

/// The colours read so far, keyed by (section, key), with the file they came from for errors.
struct Colours<'a> {
    origin: &'a str,
    map: BTreeMap<(String, String), Color>,
}

impl Colours<'_> {
    fn read_section(&mut self, section: &str, keys: &toml::Table) -> anyhow::Result<()> {
        let origin = self.origin;
        let Some(known) = section_keys(section) else {
            bail!("{origin}: [{section}]: unknown section (expected one of {})", SECTIONS.join(", "));
        };
        for (key, value) in keys {
            if !known.contains(&key.as_str()) {
                bail!("{origin}: {section}.{key}: unknown key (expected one of {})", known.join(", "));
            }
            let toml::Value::String(text) = value else {
                bail!("{origin}: {section}.{key}: expected a colour string, found {}", value.type_str());
            };
            let colour =
                parse_colour(text).ok_or_else(|| anyhow!("{origin}: {section}.{key}: unknown colour \"{text}\""))?;
            self.map.insert((section.to_string(), key.clone()), colour);
        }
        Ok(())
    }

    fn get(&self, section: &str, key: &str) -> anyhow::Result<Color> {
        self.map
            .get(&(section.to_string(), key.to_string()))
            .copied()
            .ok_or_else(|| anyhow!("{}: {section}.{key}: missing colour", self.origin))
    }
}

/// A colour name, `#rrggbb`, or a 256-colour palette index.
fn parse_colour(text: &str) -> Option<Color> {
    Color::from_str(text.trim()).ok()
}

fn try_array<const N: usize>(items: [anyhow::Result<Color>; N]) -> anyhow::Result<[Color; N]> {
    let mut out = [Color::Reset; N];
    for (slot, item) in out.iter_mut().zip(items) {
        *slot = item?;
    }
    Ok(out)
}

fn is_path(name_or_path: &str) -> bool {
    name_or_path.contains('/') || name_or_path.contains(std::path::MAIN_SEPARATOR) || name_or_path.ends_with(".toml")
}

/// The theme names in a folder, for the "no such theme" error.
fn available(themes_dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(themes_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "toml").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    if !names.iter().any(|n| n == "default") {
        names.push("default (built in)".to_string());
    }
    names.sort();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_default_parses_and_has_the_expected_state_colours() {
        let t = Theme::parse(DEFAULT_TOML, DEFAULT_ORIGIN, None).unwrap();
        assert_eq!(t.name, "default");
        assert_eq!(t.vm_state(VmState::Healthy), Color::Green);
        assert_eq!(t.vm_state(VmState::Suspect), Color::Yellow);
        assert_eq!(t.vm_state(VmState::NeedsOperator), Color::Red);
        assert_eq!(t.host_state(HostState::Online), Color::Green);
        assert_eq!(t.host_state(HostState::Down), Color::Red);
        assert_eq!(t, Theme::builtin_default());
    }

    #[test]
    fn every_state_has_its_own_key_in_the_default_file() {
        // Without a base, a missing key is an error: this proves the file names every state.
        for s in VmState::ALL {
            assert!(DEFAULT_TOML.contains(&format!("\n{} = ", s.label())), "vm_state.{s} missing");
        }
        let text = DEFAULT_TOML.replace("\nRejoining = \"cyan\"", "");
        let err = Theme::parse(&text, "x.toml", None).unwrap_err().to_string();
        assert_eq!(err, "x.toml: host_state.Rejoining: missing colour");
    }

    #[test]
    fn a_bad_colour_names_the_file_and_the_key() {
        let text = "[vm_state]\nHealthy = \"gren\"\n";
        let err = Theme::parse(text, "themes/x.toml", Some(&Theme::builtin_default())).unwrap_err();
        assert_eq!(err.to_string(), r#"themes/x.toml: vm_state.Healthy: unknown colour "gren""#);
    }

    #[test]
    fn unknown_keys_sections_and_types_are_errors() {
        let base = Theme::builtin_default();
        let err = |text: &str| Theme::parse(text, "t.toml", Some(&base)).unwrap_err().to_string();
        assert!(err("[vm_state]\nHelthy = \"green\"\n").starts_with("t.toml: vm_state.Helthy: unknown key"));
        assert!(err("[vm]\nHealthy = \"green\"\n").starts_with("t.toml: [vm]: unknown section"));
        assert!(err("[ui]\nborder = 3\n").starts_with("t.toml: ui.border: expected a colour string"));
        assert!(err("[ui]\nborder = \"#12345\"\n").contains("unknown colour \"#12345\""));
        assert!(err("[ui\n").starts_with("t.toml: "));
    }

    #[test]
    fn a_partial_theme_takes_the_rest_from_the_default() {
        let base = Theme::builtin_default();
        let text = "name = \"mine\"\n[vm_state]\nHealthy = \"#00ff7f\"\n[ui]\nbackground = \"reset\"\n";
        let t = Theme::parse(text, "mine.toml", Some(&base)).unwrap();
        assert_eq!(t.name, "mine");
        assert_eq!(t.vm_state(VmState::Healthy), Color::Rgb(0, 0xff, 0x7f));
        assert_eq!(t.ui.background, Color::Reset);
        assert_eq!(t.vm_state(VmState::NeedsOperator), base.vm_state(VmState::NeedsOperator));
    }

    #[test]
    fn load_by_name_by_path_and_the_builtin_fallback() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.toml"), "[vm_state]\nHealthy = \"gren\"\n").unwrap();
        std::fs::write(dir.path().join("blue.toml"), "[ui]\nborder = \"blue\"\n").unwrap();

        assert_eq!(Theme::load("default", dir.path()).unwrap(), Theme::builtin_default());
        assert_eq!(Theme::load("blue", dir.path()).unwrap().ui.border, Color::Blue);

        let x = dir.path().join("x.toml");
        let err = Theme::load("x", dir.path()).unwrap_err().to_string();
        assert_eq!(err, format!("{}: vm_state.Healthy: unknown colour \"gren\"", x.display()));
        let by_path = Theme::load(x.to_str().unwrap(), Path::new("/nonexistent")).unwrap_err();
        assert!(by_path.to_string().contains("vm_state.Healthy"));

        let err = Theme::load("nope", dir.path()).unwrap_err().to_string();
        assert!(err.contains("theme \"nope\": no file"), "{err}");
        assert!(err.contains("blue, default (built in), x"), "{err}");
    }

    #[test]
    fn the_repository_themes_folder_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
        assert_eq!(Theme::load("default", &dir).unwrap(), Theme::builtin_default());
    }

    #[test]
    fn every_shipped_theme_is_complete_and_the_folder_matches_the_builtins() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("themes");
        for (name, text) in BUILTINS {
            // Without a base: every key must be in the file.
            let t = Theme::parse(text, name, None).unwrap_or_else(|e| panic!("{e:#}"));
            assert_eq!(t.name, name);
            assert_eq!(Theme::load(name, &dir).unwrap(), t, "{name}");
            assert_eq!(Theme::load(name, Path::new("/nonexistent")).unwrap(), t, "{name} built in");
        }
        let light = Theme::load("light", &dir).unwrap();
        assert_ne!(light.ui.background, Theme::builtin_default().ui.background);
    }

    #[test]
    fn no_color_means_monochrome_unless_the_command_line_names_a_theme() {
        let dir = Path::new("/nonexistent");
        let set = Some(std::ffi::OsStr::new("1"));
        let empty = Some(std::ffi::OsStr::new(""));
        let mono = Theme::select(None, Some("light"), set, dir).unwrap();
        assert_eq!(mono.name, "monochrome");
        assert!(mono.to_map().values().all(|c| *c == Color::Reset), "monochrome sets no colour");
        assert!(mono.selection(true).add_modifier.contains(ratatui::style::Modifier::REVERSED));
        assert_eq!(Theme::select(Some("light"), None, set, dir).unwrap().name, "light");
        assert_eq!(Theme::select(None, Some("light"), empty, dir).unwrap().name, "light");
        assert_eq!(Theme::select(None, None, None, dir).unwrap(), Theme::builtin_default());
        assert!(!Theme::builtin_default().selection(true).add_modifier.contains(ratatui::style::Modifier::REVERSED));
    }
}
