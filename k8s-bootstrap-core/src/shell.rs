//! POSIX shell quoting for the human-readable rendering of commands.
//!
//! Commands are data (argv vectors); this module only turns them into text a
//! person can read and paste into `sh`. Every argument is quoted so that the
//! shell passes it through byte for byte.

use std::borrow::Cow;

/// Quotes one argument for a POSIX shell.
///
/// Arguments made only of characters that are never special to `sh`
/// (`A-Za-z0-9` and `,._+:@%/=-`, not starting with `~`) are
/// returned unchanged; everything else is wrapped in single quotes, with
/// embedded single quotes written as `'\''`. The empty string becomes `''`.
///
/// ```
/// use k8s_bootstrap_core::shell::shell_quote;
/// assert_eq!(shell_quote("/opt/etcd/bin/etcd"), "/opt/etcd/bin/etcd");
/// assert_eq!(shell_quote("a b"), "'a b'");
/// assert_eq!(shell_quote("it's"), r"'it'\''s'");
/// assert_eq!(shell_quote(""), "''");
/// assert_eq!(shell_quote("$HOME"), "'$HOME'");
/// ```
pub fn shell_quote(arg: &str) -> Cow<'_, str> {
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

/// Joins an argv vector into one shell command line, quoting every argument.
///
/// ```
/// use k8s_bootstrap_core::shell::join_argv;
/// let argv = ["etcdctl", "put", "/coreos.com/network/config", r#"{"Network": "10.244.0.0/16"}"#];
/// assert_eq!(
///     join_argv(&argv),
///     r#"etcdctl put /coreos.com/network/config '{"Network": "10.244.0.0/16"}'"#
/// );
/// ```
pub fn join_argv<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| shell_quote(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::process::Command;

    fn roundtrip(arg: &str) -> Vec<u8> {
        let script = format!("printf %s {}", shell_quote(arg));
        let out = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .expect("`sh` must be installed to test shell quoting");
        assert!(out.status.success(), "sh failed on {script:?}: {:?}", out);
        out.stdout
    }

    #[test]
    fn tricky_arguments_survive_sh() {
        for arg in [
            "", " ", "'", "''", "\"", "\\", "$(id)", "`id`", "a\nb", "*", "~", "~root", "-n", "#x",
            "a;b", "x=1", "%s", "é ü", "!", "{a,b}",
        ] {
            assert_eq!(roundtrip(arg), arg.as_bytes(), "argument {arg:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn any_string_survives_sh(arg in "[^\\x00]{0,40}") {
            prop_assert_eq!(roundtrip(&arg), arg.as_bytes());
        }
    }
}
