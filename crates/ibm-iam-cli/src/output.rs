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

/// Colours for text output.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    on: bool,
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty.
    pub fn detect() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            on: !no_color && std::io::stdout().is_terminal(),
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
