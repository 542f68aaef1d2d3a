//! How results are printed: text or JSON, colour only on a terminal and never with
//! `NO_COLOR`.

use std::io::IsTerminal;

use clap::ValueEnum;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Readable text.
    #[default]
    Text,
    /// One JSON document.
    Json,
}

/// Whether to colour a stream: only a terminal, and never when `NO_COLOR` is set to a
/// non-empty value (<https://no-color.org>).
pub fn colour(no_color: Option<&std::ffi::OsStr>, terminal: bool) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Colours for text output.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    on: bool,
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty.
    pub fn detect() -> Self {
        Self {
            on: colour(
                std::env::var_os("NO_COLOR").as_deref(),
                std::io::stdout().is_terminal(),
            ),
        }
    }

    fn paint(self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    /// Green.
    pub fn ok(self, s: &str) -> String {
        self.paint("32", s)
    }

    /// Red.
    pub fn bad(self, s: &str) -> String {
        self.paint("31", s)
    }

    /// Bold.
    pub fn strong(self, s: &str) -> String {
        self.paint("1", s)
    }

    /// Dim.
    pub fn dim(self, s: &str) -> String {
        self.paint("2", s)
    }
}

/// Prints a JSON value, pretty.
pub fn print_json(v: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    #[test]
    fn colour_only_on_a_terminal_and_never_with_no_color() {
        assert!(colour(None, true));
        assert!(
            colour(Some(OsStr::new("")), true),
            "an empty NO_COLOR is unset"
        );
        assert!(!colour(Some(OsStr::new("1")), true));
        assert!(!colour(None, false));
        assert!(!colour(Some(OsStr::new("1")), false));
    }

    #[test]
    fn a_plain_style_writes_no_escape_codes() {
        let plain = Style { on: false };
        for s in [
            plain.ok("x"),
            plain.bad("x"),
            plain.strong("x"),
            plain.dim("x"),
        ] {
            assert_eq!(s, "x");
        }
        assert_eq!(Style { on: true }.bad("x"), "\x1b[31mx\x1b[0m");
    }
}
