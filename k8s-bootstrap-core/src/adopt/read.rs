//! Reading a hand-built cluster's hosts: three exchanges per host, all
//! hosts at once. Each exchange is one `sh` script whose parts come back
//! between marker lines; nothing is changed on any host.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use super::{AdoptError, CA_KEY_PLACES, FlannelApi, HostFound, SecretPem, systemd};
use crate::shell::join_argv;
use crate::transport::{Command, Transport};

/// Exchanges per host: units; environment files and versions;
/// certificates, CA key candidates, membership and flannel's config.
///
/// ```
/// assert_eq!(k8s_bootstrap_core::adopt::READ_EXCHANGES, 3);
/// ```
pub const READ_EXCHANGES: usize = 3;

/// The line before each part of a script's output.
const MARK: &str = "--- k8s-bootstrap adopt:";

/// A script part: `MARK key`, then what `sh` prints.
fn part(key: &str, sh: &str) -> String {
    format!("printf '%s\\n' {}; {sh}\n", join_argv(&[format!("{MARK} {key}")]))
}

/// The parts of a script's output, by key.
fn parts(out: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut key: Option<String> = None;
    let mut text = String::new();
    for line in out.split_inclusive('\n') {
        if let Some(k) = line.strip_prefix(MARK) {
            if let Some(k) = key.take() {
                map.insert(k, std::mem::take(&mut text));
            }
            key = Some(k.trim().to_string());
        } else if key.is_some() {
            text.push_str(line);
        }
    }
    if let Some(k) = key {
        map.insert(k, text);
    }
    map
}

/// `cat PATH` as a part: `ok` then the text, or `absent`.
fn cat(key: &str, path: &str) -> String {
    let q = join_argv(&[path]);
    part(key, &format!("if [ -r {q} ]; then echo ok; cat -- {q}; else echo absent; fi"))
}

/// A part written by [`cat`]: `Some(text)` when the file was there.
fn catted(p: Option<&String>) -> Option<String> {
    let p = p?;
    p.strip_prefix("ok\n").map(str::to_string)
}

/// Runs one reading script on a host: `what` names it in errors (the
/// script itself is long and says nothing to a person).
async fn exchange(name: &str, t: &Arc<dyn Transport>, what: &str, mut script: String) -> Result<BTreeMap<String, String>, AdoptError> {
    // a part whose command failed (a key absent, a unit missing) is read
    // from its output; the script as a whole succeeds
    script.push_str("exit 0\n");
    let fail = |detail: String| AdoptError::Unreachable { host: name.to_string(), detail: format!("reading {what}: {detail}") };
    let out = t.run(&Command::new(["sh", "-c", script.as_str()]).timeout(std::time::Duration::from_secs(120))).await.map_err(|e| fail(e.to_string()))?;
    if !out.success() {
        return Err(fail(format!("exit {:?}: {}", out.exit_code, out.stderr_str().trim())));
    }
    Ok(parts(&out.stdout_str()))
}

/// Reads every host (see [`super::HostFound`]), all at once. Changes nothing.
///
/// ```no_run
/// # async fn demo(hosts: Vec<(String, std::net::Ipv4Addr, std::sync::Arc<dyn k8s_bootstrap_core::transport::Transport>)>) -> Result<(), Box<dyn std::error::Error>> {
/// use k8s_bootstrap_core::adopt::{read, Adoption};
/// let found = read(&hosts).await?;
/// let adoption = Adoption::from_found(&found, None)?;
/// println!("{}", adoption.yaml);
/// # Ok(()) }
/// ```
pub async fn read(hosts: &[(String, Ipv4Addr, Arc<dyn Transport>)]) -> Result<Vec<HostFound>, AdoptError> {
    let futs = hosts.iter().map(|(name, addr, t)| read_host(name, *addr, t));
    futures::future::join_all(futs).await.into_iter().collect()
}

async fn read_host(name: &str, address: Ipv4Addr, t: &Arc<dyn Transport>) -> Result<HostFound, AdoptError> {
    let mut f = HostFound { name: name.to_string(), address: Some(address), ..HostFound::default() };
    // 1. The units, and docker's daemon.json.
    let mut script = String::new();
    for u in ["etcd", "flanneld", "docker"] {
        script.push_str(&part(&format!("unit {u}"), &format!("if systemctl cat {u} 2>/dev/null; then :; else echo '# none'; fi")));
    }
    script.push_str(&cat("daemon.json", "/etc/docker/daemon.json"));
    let p = exchange(name, t, "its units", script).await?;
    let unit = |u: &str| p.get(&format!("unit {u}")).filter(|t| !t.starts_with("# none")).cloned();
    f.etcd_unit = unit("etcd");
    f.flanneld_unit = unit("flanneld");
    f.docker_unit = unit("docker");
    f.daemon_json = catted(p.get("daemon.json"));

    // 2. Their environment files, and their binaries' versions.
    let units: Vec<systemd::Unit> = [&f.etcd_unit, &f.flanneld_unit].into_iter().flatten().map(|u| systemd::Unit::parse(u)).collect();
    let mut script = String::new();
    let mut binaries = Vec::new();
    for u in &units {
        for (path, _) in &u.environment_files {
            script.push_str(&cat(&format!("env {path}"), path));
        }
        if let Some(bin) = u.argv(&BTreeMap::new()).into_iter().next() {
            let q = join_argv(std::slice::from_ref(&bin));
            script.push_str(&part(&format!("version {bin}"), &format!("timeout 20 {q} --version 2>&1 | head -n1")));
            binaries.push(bin);
        }
    }
    let p = exchange(name, t, "the units' environment files and binaries", script).await?;
    for u in &units {
        for (path, _) in &u.environment_files {
            f.env_files.insert(path.clone(), catted(p.get(&format!("env {path}"))));
        }
    }
    for bin in binaries {
        if let Some(v) = p.get(&format!("version {bin}")) {
            f.versions.insert(bin, v.trim().to_string());
        }
    }

    // 3. etcd's certificates, CA key candidates, its own view of the
    // membership, flannel's config.
    let Some(etcd) = &f.etcd_unit else { return Ok(f) };
    let unit = systemd::Unit::parse(etcd);
    let env = super::unit_env(&unit, &f.env_files);
    let (binary, s) = super::etcd_settings(&unit, &env);
    let mut script = String::new();
    let mut certs: Vec<String> = ["trusted-ca-file", "peer-trusted-ca-file", "cert-file", "peer-cert-file"].iter().filter_map(|k| s.get(*k).cloned()).collect();
    certs.sort();
    certs.dedup();
    for c in &certs {
        script.push_str(&cat(&format!("pem {c}"), c));
    }
    let ssl = s.get("trusted-ca-file").map(|p| super::parent(p).to_string()).unwrap_or_else(|| "/opt/etcd/ssl".into());
    let places: Vec<String> = CA_KEY_PLACES.iter().map(|p| p.replace("{ssl}", &ssl)).collect();
    // unquoted on purpose: the shell expands /home/*
    script.push_str(&format!(
        "for k in {}; do if [ -f \"$k\" ] && [ -r \"$k\" ]; then printf '%s\\n' \"{MARK} cakey $k\"; cat -- \"$k\"; fi; done\n",
        places.iter().map(|p| p.split('*').map(|s| join_argv(&[s])).collect::<Vec<_>>().join("*")).collect::<Vec<_>>().join(" ")
    ));
    let endpoint = s.get("advertise-client-urls").and_then(|u| u.split(',').next().map(str::to_string)).unwrap_or_else(|| "https://127.0.0.1:2379".into());
    let etcdctl = format!("{}/etcdctl", super::parent(&binary));
    let tls: Vec<String> = [("--cacert", "trusted-ca-file"), ("--cert", "cert-file"), ("--key", "key-file")]
        .iter()
        .filter_map(|(flag, k)| s.get(*k).map(|v| format!("{flag}={v}")))
        .collect();
    let mut v3 = vec![etcdctl.clone(), format!("--endpoints={endpoint}"), "--dial-timeout=5s".into(), "--command-timeout=10s".into()];
    v3.extend(tls.iter().cloned());
    let v3 = join_argv(&v3);
    script.push_str(&part("members", &format!("if o=$(ETCDCTL_API=3 timeout 30 {v3} -w json member list 2>&1); then echo ok; printf '%s\\n' \"$o\"; else echo fail; printf '%s\\n' \"$o\" | tail -n 5; fi")));
    let prefix = f
        .flanneld_unit
        .as_ref()
        .map(|u| {
            let u = systemd::Unit::parse(u);
            let env = super::unit_env(&u, &f.env_files);
            super::flanneld_settings(&u, &env).1
        })
        .and_then(|s| s.get("etcd-prefix").cloned())
        .unwrap_or_else(|| "/coreos.com/network".into());
    let key = format!("{}/config", prefix.trim_end_matches('/'));
    let qk = join_argv(std::slice::from_ref(&key));
    script.push_str(&part("flannel v3", &format!("ETCDCTL_API=3 timeout 30 {v3} get --print-value-only {qk} 2>/dev/null")));
    let v2_tls: Vec<String> = [("--ca-file", "trusted-ca-file"), ("--cert-file", "cert-file"), ("--key-file", "key-file")]
        .iter()
        .filter_map(|(flag, k)| s.get(*k).map(|v| format!("{flag}={v}")))
        .collect();
    let mut v2 = vec![etcdctl, format!("--endpoints={endpoint}")];
    v2.extend(v2_tls);
    script.push_str(&part("flannel v2", &format!("ETCDCTL_API=2 timeout 30 {} get {qk} 2>/dev/null", join_argv(&v2))));
    let p = exchange(name, t, "etcd's certificates and membership", script).await?;
    for c in certs {
        f.pems.insert(c.clone(), catted(p.get(&format!("pem {c}"))));
    }
    for (k, v) in &p {
        if let Some(path) = k.strip_prefix("cakey ") {
            f.ca_keys.insert(path.to_string(), SecretPem(v.clone()));
        }
    }
    f.member_list = p.get("members").map(|m| match m.strip_prefix("ok\n") {
        Some(json) => Ok(json.trim().to_string()),
        None => Err(m.trim_start_matches("fail\n").trim().to_string()),
    });
    let v3 = p.get("flannel v3").map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let v2 = p.get("flannel v2").map(|s| s.trim().to_string()).filter(|s| s.starts_with('{'));
    f.flannel_config = v3.map(|c| (FlannelApi::V3, c)).or(v2.map(|c| (FlannelApi::V2, c)));
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_come_back_by_key() {
        let script = format!("{}{}", part("a", "echo one; echo two"), cat("b", "/nonexistent/kb"));
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        let p = parts(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(p["a"], "one\ntwo\n");
        assert_eq!(catted(p.get("b")), None);
        assert_eq!(p["b"], "absent\n");
    }
}
