//! Shell scripts for file operations built on exec (the k0sproject/rig way):
//! used by exec-based transports such as SSH. Every value is escaped.
#![cfg_attr(not(feature = "ssh"), allow(dead_code))]

use super::{FileKind, FileStat, PutOptions};
use crate::shell::shell_quote as quote;

/// Exit code the scripts use for "path does not exist".
pub(crate) const ABSENT: u32 = 44;

/// Splits `/a/b/c` into (`/a/b`, `c`).
pub(crate) fn split_path(path: &str) -> (String, String) {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) => ("/".into(), trimmed[1..].into()),
        Some(i) => (trimmed[..i].into(), trimmed[i + 1..].into()),
        None => (".".into(), trimmed.into()),
    }
}

/// Prints `absent`, or `<sha256> <mode-octal> <user>:<group> <uid>:<gid>`.
pub(crate) fn probe(path: &str) -> String {
    let p = quote(path);
    format!(
        "if [ -f {p} ] && [ ! -L {p} ]; then s=$(sha256sum < {p}) && s=${{s%% *}} && \
         printf '%s %s\\n' \"$s\" \"$(stat -c '%a %U:%G %u:%g' -- {p})\"; else echo absent; fi"
    )
}

/// The parsed output of [`probe`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Probe {
    pub sha256: String,
    pub mode: u32,
    pub names: String,
    pub ids: String,
}

pub(crate) fn parse_probe(out: &str) -> Option<Probe> {
    let mut it = out.split_whitespace();
    let sha256 = it.next()?.to_string();
    if sha256 == "absent" {
        return None;
    }
    let mode = u32::from_str_radix(it.next()?, 8).ok()?;
    Some(Probe {
        sha256,
        mode,
        names: it.next()?.to_string(),
        ids: it.next()?.to_string(),
    })
}

/// Whether an owner spec (`user`, `user:group`, names or numbers) matches.
pub(crate) fn owner_matches(want: &str, names: &str, ids: &str) -> bool {
    let user_part = |s: &str| s.split(':').next().unwrap_or("").to_string();
    if want.contains(':') {
        let (wu, wg) = want.split_once(':').unwrap_or((want, ""));
        let (nu, ng) = names.split_once(':').unwrap_or((names, ""));
        let (iu, ig) = ids.split_once(':').unwrap_or((ids, ""));
        (wu == nu || wu == iu || wu.is_empty()) && (wg == ng || wg == ig || wg.is_empty())
    } else {
        want == user_part(names) || want == user_part(ids)
    }
}

/// What a put has to do, given the probe of the target.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Content, mode and owner match: write nothing.
    Unchanged,
    /// Content matches: chmod/chown only ([`set_meta`]).
    MetadataOnly,
    /// Write the content; `existed` tells Created from Updated.
    Write { existed: bool },
}

pub(crate) fn plan(existing: Option<&Probe>, sha256: &str, opts: &PutOptions) -> Plan {
    match existing {
        Some(p) if p.sha256 == sha256 => {
            let owner_ok = opts
                .owner
                .as_deref()
                .is_none_or(|o| owner_matches(o, &p.names, &p.ids));
            if p.mode == opts.mode && owner_ok {
                Plan::Unchanged
            } else {
                Plan::MetadataOnly
            }
        }
        other => Plan::Write {
            existed: other.is_some(),
        },
    }
}

/// chmod (and chown) an existing file in place.
pub(crate) fn set_meta(path: &str, opts: &PutOptions) -> String {
    let p = quote(path);
    let mut s = format!("chmod {:o} -- {p}", opts.mode);
    if let Some(o) = &opts.owner {
        s.push_str(&format!(" && chown -- {} {p}", quote(o)));
    }
    s
}

/// Reads stdin into a temp file next to `path`, checks its SHA-256, sets
/// mode/owner, fsyncs and renames it over `path`. On any failure (including
/// the connection dying mid-transfer, which truncates stdin) the temp file is
/// removed and `path` keeps its old content.
pub(crate) fn put(path: &str, sha256: &str, opts: &PutOptions) -> String {
    let (dir, name) = split_path(path);
    let mut s = String::from("set -e\n");
    s.push_str(&format!("d={}\nf={}\n", quote(&dir), quote(path)));
    if opts.create_parents {
        s.push_str("mkdir -p -- \"$d\"\n");
    }
    s.push_str(&format!(
        "t=$(mktemp -- \"$d\"/{})\n",
        quote(&format!(
            ".{}.kbtmp.XXXXXX",
            name.chars().take(100).collect::<String>()
        ))
    ));
    s.push_str("trap 'rm -f -- \"$t\"' EXIT\ntrap 'exit 1' HUP INT TERM PIPE\n");
    s.push_str("cat > \"$t\"\n");
    s.push_str(&format!(
        "s=$(sha256sum < \"$t\"); s=${{s%% *}}\nif [ \"$s\" != {sha} ]; then echo \"content hash mismatch \
         (got $s): transfer incomplete\" >&2; exit 3; fi\n",
        sha = quote(sha256)
    ));
    s.push_str(&format!("chmod {:o} -- \"$t\"\n", opts.mode));
    if let Some(o) = &opts.owner {
        s.push_str(&format!("chown -- {} \"$t\"\n", quote(o)));
    }
    s.push_str("sync -- \"$t\" 2>/dev/null || sync\nmv -f -- \"$t\" \"$f\"\ntrap - EXIT\nsync -- \"$d\" 2>/dev/null || true\n");
    s
}

/// `cat` the file, exit [`ABSENT`] if missing.
pub(crate) fn read(path: &str) -> String {
    let p = quote(path);
    format!("if [ -e {p} ] || [ -L {p} ]; then exec cat -- {p}; else exit {ABSENT}; fi")
}

/// `stat` the path, exit [`ABSENT`] if missing.
pub(crate) fn stat(path: &str) -> String {
    let p = quote(path);
    format!(
        "if [ -e {p} ] || [ -L {p} ]; then exec stat -c '%F|%s|%a|%u|%g|%Y' -- {p}; else exit {ABSENT}; fi"
    )
}

pub(crate) fn parse_stat(out: &str) -> Option<FileStat> {
    let f: Vec<&str> = out.trim_end().split('|').collect();
    if f.len() != 6 {
        return None;
    }
    let kind = match f[0] {
        "regular file" | "regular empty file" => FileKind::File,
        "directory" => FileKind::Dir,
        "symbolic link" => FileKind::Symlink,
        _ => FileKind::Other,
    };
    Some(FileStat {
        kind,
        size: f[1].parse().ok()?,
        mode: u32::from_str_radix(f[2], 8).ok()?,
        uid: f[3].parse().ok()?,
        gid: f[4].parse().ok()?,
        mtime: f[5].parse().ok()?,
    })
}

/// `sha256sum` of the file, exit [`ABSENT`] if missing.
pub(crate) fn sha256(path: &str) -> String {
    let p = quote(path);
    format!(
        "if [ -f {p} ]; then s=$(sha256sum < {p}) && echo \"${{s%% *}}\"; else exit {ABSENT}; fi"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_parse() {
        assert_eq!(split_path("/etc/x"), ("/etc".into(), "x".into()));
        assert_eq!(split_path("/x"), ("/".into(), "x".into()));
        assert_eq!(split_path("x"), (".".into(), "x".into()));
        let p = parse_probe("ab 640 root:etcd 0:998\n").unwrap();
        assert_eq!(p.mode, 0o640);
        assert!(owner_matches("root:etcd", &p.names, &p.ids));
        assert!(owner_matches("0", &p.names, &p.ids));
        assert!(!owner_matches("etcd", &p.names, &p.ids));
        assert_eq!(parse_probe("absent\n"), None);
        let s = parse_stat("regular file|5|644|0|0|1700000000\n").unwrap();
        assert_eq!((s.kind, s.size, s.mode), (FileKind::File, 5, 0o644));
    }
}
