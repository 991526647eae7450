//! Unified diffs of files for `plan`, with private keys redacted.

use similar::TextDiff;

/// A unified diff from `old` (absent: `None`) to `new` for `path`. Secret
/// files never show their contents; binary files show sizes only.
pub(crate) fn unified(path: &str, old: Option<&[u8]>, new: &[u8], secret: bool) -> String {
    if secret {
        return match old {
            None => format!("+++ {path}\n(private key created; contents not shown)\n"),
            Some(_) => format!("--- {path}\n+++ {path}\n(private key replaced; contents not shown)\n"),
        };
    }
    let (Ok(new_text), Ok(old_text)) = (std::str::from_utf8(new), std::str::from_utf8(old.unwrap_or_default())) else {
        return format!(
            "binary {path}: {} -> {} bytes\n",
            old.map(|o| o.len().to_string()).unwrap_or_else(|| "absent".into()),
            new.len()
        );
    };
    let old_name = if old.is_some() { path.to_string() } else { "/dev/null".to_string() };
    TextDiff::from_lines(old_text, new_text).unified_diff().context_radius(3).header(&old_name, path).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_changed_lines() {
        let d = unified("/opt/etcd/cfg/etcd", Some(b"A=1\nB=2\n"), b"A=1\nB=3\n", false);
        assert!(d.contains("-B=2") && d.contains("+B=3") && d.contains("--- /opt/etcd/cfg/etcd"), "{d}");
        let created = unified("/x", None, b"hello\n", false);
        assert!(created.contains("--- /dev/null") && created.contains("+hello"), "{created}");
    }

    #[test]
    fn never_shows_keys() {
        let key = b"-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n";
        for old in [None, Some(&b"old"[..])] {
            let d = unified("/opt/etcd/ssl/etcd01-server-key.pem", old, key, true);
            assert!(!d.contains("secret") && !d.contains("PRIVATE KEY"), "{d}");
        }
    }
}
