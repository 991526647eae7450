//! The rules of names and paths that the spec and every builder share.

/// Why `name` is not a valid host or member name, if it is not.
pub(crate) fn name_rule(name: &str) -> Option<&'static str> {
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-';
    (!ok).then_some("a host or member name is 1-63 characters of [a-z0-9-], not starting or ending with -")
}

/// Why `path` is not a usable absolute path in rendered files, if it is not.
pub(crate) fn path_rule(path: &str) -> Option<&'static str> {
    let ok = path.starts_with('/')
        && !path.split('/').any(|s| s == "..")
        && !path.chars().any(|c| c.is_whitespace() || c.is_control() || "\"'$`\\;&|<>*?#%".contains(c));
    (!ok).then_some("an absolute path without spaces, quotes, `..` or shell characters")
}
