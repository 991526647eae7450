//! Reading what systemd reads: a unit file's `[Service]` settings, an
//! `EnvironmentFile=`, and `ExecStart=` with its variables expanded, as
//! systemd does it (see systemd.service(5), "Command lines", and
//! systemd.exec(5), `EnvironmentFile=`). Only what adoption needs: no
//! specifiers (`%n`), no drop-in merging beyond "later wins".

use std::collections::BTreeMap;

/// The settings of one unit, from `systemctl cat UNIT` (the unit file and
/// its drop-ins, each after a `# /path` line) or a unit file alone.
///
/// ```
/// use k8s_bootstrap_core::adopt::systemd::Unit;
/// let u = Unit::parse("# /usr/lib/systemd/system/etcd.service\n[Service]\nEnvironmentFile=-/opt/etcd/cfg/etcd\nExecStart=/opt/etcd/bin/etcd \\\n  --name=${ETCD_NAME}\n");
/// assert_eq!(u.path.as_deref(), Some("/usr/lib/systemd/system/etcd.service"));
/// assert_eq!(u.environment_files, [("/opt/etcd/cfg/etcd".to_string(), true)]);
/// let env = std::collections::BTreeMap::from([("ETCD_NAME".to_string(), "etcd01".to_string())]);
/// assert_eq!(u.argv(&env), ["/opt/etcd/bin/etcd", "--name=etcd01"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unit {
    /// The unit file's path (the first `# /path` line of `systemctl cat`).
    pub path: Option<String>,
    /// `EnvironmentFile=` paths, in order, each with whether it may be missing (`-`).
    pub environment_files: Vec<(String, bool)>,
    /// `Environment=` assignments.
    pub environment: BTreeMap<String, String>,
    /// The last `ExecStart=` (its prefixes `-@:+!` removed), continuation lines joined.
    pub exec_start: String,
    /// Every other `[Service]` and `[Unit]` key, the last value of each.
    pub other: BTreeMap<String, String>,
}

impl Unit {
    /// Parses a unit (see the type).
    pub fn parse(text: &str) -> Unit {
        let mut u = Unit::default();
        let mut section = String::new();
        for line in join_continuations(text, " ") {
            let t = line.trim();
            if let Some(p) = t.strip_prefix("# /") {
                if u.path.is_none() {
                    u.path = Some(format!("/{}", p.trim()));
                }
                continue;
            }
            if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
                continue;
            }
            if t.starts_with('[') && t.ends_with(']') {
                section = t[1..t.len() - 1].to_string();
                continue;
            }
            let Some((k, v)) = t.split_once('=') else { continue };
            let (k, v) = (k.trim(), v.trim());
            match (section.as_str(), k) {
                ("Service", "EnvironmentFile") if v.is_empty() => u.environment_files.clear(),
                ("Service", "EnvironmentFile") => match v.strip_prefix('-') {
                    Some(p) => u.environment_files.push((p.to_string(), true)),
                    None => u.environment_files.push((v.to_string(), false)),
                },
                ("Service", "Environment") => {
                    for word in split_words(v) {
                        if let Some((a, b)) = word.split_once('=') {
                            u.environment.insert(a.to_string(), b.to_string());
                        }
                    }
                }
                ("Service", "ExecStart") if v.is_empty() => u.exec_start.clear(),
                ("Service", "ExecStart") => u.exec_start = v.trim_start_matches(['-', '@', ':', '+', '!']).to_string(),
                _ => {
                    u.other.insert(format!("{section}.{k}"), v.to_string());
                }
            }
        }
        u
    }

    /// `ExecStart=` as the argv systemd runs, with `env` (the environment
    /// files' and `Environment=` variables): `${VAR}` is replaced as part of
    /// its word, `$VAR` standing alone becomes the words of its value.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use k8s_bootstrap_core::adopt::systemd::Unit;
    /// let u = Unit::parse("[Service]\nExecStart=/opt/kubernetes/bin/flanneld --ip-masq $FLANNEL_OPTIONS\n");
    /// let env = BTreeMap::from([("FLANNEL_OPTIONS".to_string(), "--etcd-endpoints=https://a:2379 -etcd-cafile=/x/ca.pem".to_string())]);
    /// assert_eq!(u.argv(&env), ["/opt/kubernetes/bin/flanneld", "--ip-masq", "--etcd-endpoints=https://a:2379", "-etcd-cafile=/x/ca.pem"]);
    /// ```
    pub fn argv(&self, env: &BTreeMap<String, String>) -> Vec<String> {
        let mut out = Vec::new();
        for word in split_words(&self.exec_start) {
            if let Some(name) = word.strip_prefix('$').filter(|n| !n.starts_with('{') && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
                out.extend(env.get(name).map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>()).unwrap_or_default());
            } else {
                out.push(expand_braced(&word, env));
            }
        }
        out
    }
}

/// Joins lines ending in a backslash with the next, the backslash replaced
/// by `joiner`: a space in unit files, nothing in environment files
/// (systemd.syntax(7), systemd.exec(5)).
fn join_continuations(text: &str, joiner: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        match line.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head);
                cur.push_str(joiner);
            }
            None => {
                cur.push_str(line);
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Splits a command line into words: whitespace separates, double and
/// single quotes group (and are removed), a backslash escapes the next
/// character.
fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), '\\') => cur.extend(chars.next()),
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                cur.extend(chars.next());
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Replaces every `${VAR}` in `word` by its value (empty when unset).
fn expand_braced(word: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = word;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        match rest[i + 2..].find('}') {
            Some(j) => {
                out.push_str(env.get(&rest[i + 2..i + 2 + j]).map(String::as_str).unwrap_or(""));
                rest = &rest[i + 2 + j + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The variables of an `EnvironmentFile=`: `KEY=VALUE` lines, `#` and `;`
/// comments, a value in double or single quotes unquoted, a trailing
/// backslash continuing the line (systemd.exec(5)).
///
/// ```
/// use k8s_bootstrap_core::adopt::systemd::env_file;
/// // the tutorial's flanneld options, as flannel.sh writes them
/// let text = "\nFLANNEL_OPTIONS=\"--etcd-endpoints=https://192.168.1.30:2379 \\\n-etcd-cafile=/opt/etcd/ssl/ca.pem\"\n";
/// let env = env_file(text);
/// assert_eq!(env["FLANNEL_OPTIONS"], "--etcd-endpoints=https://192.168.1.30:2379 -etcd-cafile=/opt/etcd/ssl/ca.pem");
/// assert_eq!(env_file("#[Member]\nETCD_NAME=\"etcd01\"\n")["ETCD_NAME"], "etcd01");
/// ```
pub fn env_file(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in join_continuations(text, "") {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        let t = t.strip_prefix("export ").unwrap_or(t);
        let Some((k, v)) = t.split_once('=') else { continue };
        let v = v.trim();
        let v = if v.len() >= 2 && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\''))) { &v[1..v.len() - 1] } else { v };
        out.insert(k.trim().to_string(), v.to_string());
    }
    out
}

/// The settings given to a Go program (etcd, flanneld) on its command line:
/// `--flag=value`, `-flag=value`, `--flag value` (when the next word is
/// not a flag), and a bare `--flag` as `true`. The first word (the
/// program) is skipped; a later flag wins over an earlier one.
///
/// ```
/// use k8s_bootstrap_core::adopt::systemd::flags;
/// let f = flags(&["etcd".into(), "--name=etcd01".into(), "-etcd-cafile".into(), "/ca.pem".into(), "--client-cert-auth".into()]);
/// assert_eq!((f["name"].as_str(), f["etcd-cafile"].as_str(), f["client-cert-auth"].as_str()), ("etcd01", "/ca.pem", "true"));
/// ```
pub fn flags(argv: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut i = 1;
    while i < argv.len() {
        let w = &argv[i];
        i += 1;
        let Some(name) = w.strip_prefix("--").or_else(|| w.strip_prefix('-')) else { continue };
        match name.split_once('=') {
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            None => match argv.get(i).filter(|n| !n.starts_with('-')) {
                Some(v) => {
                    out.insert(name.to_string(), v.clone());
                    i += 1;
                }
                None => {
                    out.insert(name.to_string(), "true".to_string());
                }
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unit and env file the tutorial's etcd.sh writes (its appendix),
    /// with etcd01's values filled in as the script does.
    #[test]
    fn the_tutorials_etcd_unit_reads_as_systemd_runs_it() {
        let unit = Unit::parse(
            "[Unit]\nDescription=Etcd Server\n\n[Service]\nType=notify\nEnvironmentFile=/opt/etcd/cfg/etcd\nExecStart=/opt/etcd/bin/etcd \\\n--name=${ETCD_NAME} \\\n--data-dir=${ETCD_DATA_DIR} \\\n--listen-client-urls=${ETCD_LISTEN_CLIENT_URLS},http://127.0.0.1:2379 \\\n--initial-cluster-state=new \\\n--cert-file=/opt/etcd/ssl/server.pem\nRestart=on-failure\n",
        );
        let env = env_file("#[Member]\nETCD_NAME=\"etcd01\"\nETCD_DATA_DIR=\"/var/lib/etcd/default.etcd\"\nETCD_LISTEN_CLIENT_URLS=\"https://192.168.1.30:2379\"\n");
        let argv = unit.argv(&env);
        assert_eq!(
            argv,
            [
                "/opt/etcd/bin/etcd",
                "--name=etcd01",
                "--data-dir=/var/lib/etcd/default.etcd",
                "--listen-client-urls=https://192.168.1.30:2379,http://127.0.0.1:2379",
                "--initial-cluster-state=new",
                "--cert-file=/opt/etcd/ssl/server.pem"
            ]
        );
        assert_eq!(unit.environment_files, [("/opt/etcd/cfg/etcd".to_string(), false)]);
        assert_eq!(unit.other["Service.Type"], "notify");
        let f = flags(&argv);
        assert_eq!(f["listen-client-urls"], "https://192.168.1.30:2379,http://127.0.0.1:2379");
    }

    #[test]
    fn drop_ins_and_resets_follow_systemd() {
        let u = Unit::parse("# /etc/systemd/system/etcd.service\n[Service]\nExecStart=/a\nEnvironmentFile=/x\n# /etc/systemd/system/etcd.service.d/o.conf\n[Service]\nExecStart=\nExecStart=-/b \"two words\"\nEnvironmentFile=\nEnvironment=A=1 \"B=2 3\"\n");
        assert_eq!(u.path.as_deref(), Some("/etc/systemd/system/etcd.service"));
        assert_eq!(u.exec_start, "/b \"two words\"");
        assert_eq!(u.argv(&BTreeMap::new()), ["/b", "two words"]);
        assert!(u.environment_files.is_empty());
        assert_eq!((u.environment["A"].as_str(), u.environment["B"].as_str()), ("1", "2 3"));
    }
}
