//! POSIX shell escaping for every value the transports put into a shell line.
//! (A private copy: kept self-contained so the transport does not depend on
//! rendering code.)

use std::borrow::Cow;

/// `arg` as one shell word that `sh` turns back into exactly `arg`.
pub(crate) fn quote(arg: &str) -> Cow<'_, str> {
    let safe = !arg.is_empty()
        && !arg.starts_with('~')
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b",._+:@%/=-".contains(&b));
    if safe {
        return Cow::Borrowed(arg);
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('\'');
    for c in arg.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    Cow::Owned(out)
}

/// Every element quoted, joined by spaces.
pub(crate) fn join<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| quote(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_examples() {
        assert_eq!(quote("abc"), "abc");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("~root"), "'~root'");
        assert_eq!(quote("a'b"), r"'a'\''b'");
        assert_eq!(quote("$(reboot)"), "'$(reboot)'");
        assert_eq!(join(&["ls", "-l", "a b"]), "ls -l 'a b'");
    }
}
