//! Colors only on a terminal, never with NO_COLOR (<https://no-color.org>) or TERM=dumb.

use std::io::IsTerminal;

fn allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// Whether stdout may get colors.
pub fn stdout_color() -> bool {
    allowed() && std::io::stdout().is_terminal()
}

/// Whether stderr may get colors.
pub fn stderr_color() -> bool {
    allowed() && std::io::stderr().is_terminal()
}

/// Whether progress may be drawn live (a terminal, not CI).
pub fn live_progress() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    !ci && std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

fn paint(on: bool, code: &str, s: &str) -> String {
    if on { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
}

/// Green on a colored stdout.
pub fn good(s: &str) -> String {
    paint(stdout_color(), "32", s)
}

/// Bold red on a colored stdout.
pub fn bad(s: &str) -> String {
    paint(stdout_color(), "1;31", s)
}

/// Yellow on a colored stdout.
pub fn warn(s: &str) -> String {
    paint(stdout_color(), "33", s)
}

/// `error:` in bold red on a colored stderr.
pub fn error_label() -> String {
    paint(stderr_color(), "1;31", "error:")
}

/// `warning:` in yellow on a colored stderr.
pub fn warning_label() -> String {
    paint(stderr_color(), "33", "warning:")
}
