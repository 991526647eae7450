//! `SshConfigFile` against OpenSSH itself: for every config file and host
//! name below, the settings we resolve are the ones `ssh -G` prints (the
//! expected values come from OpenSSH, not from our code). Needs `ssh`
//! (Debian: openssh-client); fails, never skips, without it.
#![cfg(feature = "ssh")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_bootstrap_core::transport::{HostKeyCheck, SshConfig, SshConfigFile, SshOverrides};

/// `ssh -G` output: keyword -> values, in order.
fn openssh(cfg: &Path, name: &str, given: &SshOverrides) -> BTreeMap<String, Vec<String>> {
    let mut cmd = std::process::Command::new("ssh");
    cmd.arg("-G").arg("-F").arg(cfg);
    if let Some(u) = &given.user {
        cmd.args(["-l", u]);
    }
    if let Some(p) = given.port {
        cmd.args(["-p", &p.to_string()]);
    }
    if let Some(j) = &given.proxy_jump {
        cmd.args(["-J", j]);
    }
    let out = cmd.arg(name).output().unwrap_or_else(|e| panic!("this test needs ssh (Debian: apt-get install openssh-client): {e}"));
    assert!(out.status.success(), "ssh -G {name}: {}", String::from_utf8_lossy(&out.stderr));
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((k, v)) = l.split_once(' ') {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
    }
    m
}

fn one<'a>(m: &'a BTreeMap<String, Vec<String>>, k: &str) -> &'a str {
    m.get(k).and_then(|v| v.first()).map_or("", String::as_str)
}

/// The hosts of a jump chain, first hop first.
fn jump_hosts(ssh: &SshConfig) -> Vec<String> {
    let mut hops = Vec::new();
    let mut j = ssh.proxy_jump.as_deref();
    while let Some(h) = j {
        hops.push(h.host.clone());
        j = h.proxy_jump.as_deref();
    }
    hops.reverse();
    hops
}

fn compare(cfg: &Path, name: &str, given: &SshOverrides) {
    let want = openssh(cfg, name, given);
    let file = SshConfigFile::load(cfg).unwrap_or_else(|e| panic!("{}: {e}", cfg.display()));
    let ctx = format!("{} for {name} with {given:?}\n{}", cfg.display(), std::fs::read_to_string(cfg).unwrap());
    let got = match file.resolve(name, given) {
        Ok(r) => r.ssh,
        Err(e) => {
            // the only thing we refuse that OpenSSH takes: host key checking off
            assert_eq!(one(&want, "stricthostkeychecking"), "false", "{ctx}: we refused with {e}");
            assert!(e.to_string().contains("StrictHostKeyChecking"), "{e}");
            return;
        }
    };
    assert_ne!(one(&want, "stricthostkeychecking"), "false", "{ctx}: OpenSSH turns checking off, we must refuse");
    assert_eq!(got.host_key_check, HostKeyCheck::Strict, "{ctx}");
    assert_eq!(got.host, one(&want, "hostname"), "hostname, {ctx}");
    assert_eq!(got.user, one(&want, "user"), "user, {ctx}");
    assert_eq!(got.port.to_string(), one(&want, "port"), "port, {ctx}");
    assert_eq!(got.identities_only, one(&want, "identitiesonly") == "yes", "identitiesonly, {ctx}");
    // Our test configs give absolute IdentityFiles without tokens: OpenSSH
    // prints them as written (its defaults only when none is given).
    let ids: Vec<String> = got.identity_files.iter().map(|p| p.display().to_string()).collect();
    let want_ids: Vec<String> = want.get("identityfile").cloned().unwrap_or_default().into_iter().filter(|p| p.starts_with('/')).collect();
    assert_eq!(ids, want_ids, "identityfile, {ctx}");
    let want_jumps: Vec<String> = match one(&want, "proxyjump") {
        "" | "none" => vec![],
        // OpenSSH prints `-J` hops as user@[host]:port
        j => j
            .split(',')
            .map(|h| {
                let h = h.rsplit('@').next().unwrap();
                match h.strip_prefix('[') {
                    Some(b) => b.split(']').next().unwrap().to_string(),
                    None => h.split(':').next().unwrap().to_string(),
                }
            })
            .collect(),
    };
    assert_eq!(jump_hosts(&got), want_jumps, "proxyjump, {ctx}");
    let mut known: Vec<String> = got.known_hosts.iter().map(|p| p.display().to_string()).collect();
    let globals: Vec<String> = want.get("globalknownhostsfile").map(|g| g.join(" ").split(' ').map(String::from).collect()).unwrap_or_default();
    known.extend(got.extra_known_hosts.iter().map(|p| p.display().to_string()).filter(|p| !globals.contains(p)));
    if known.is_empty() {
        known = vec!["~/.ssh/known_hosts".into(), "~/.ssh/known_hosts2".into()]; // both our default and OpenSSH's
    }
    let want_known: Vec<String> = one(&want, "userknownhostsfile").split(' ').map(String::from).collect();
    let home = std::env::var("HOME").unwrap();
    let want_known: Vec<String> = want_known.into_iter().map(|p| p.replace("~", &home)).collect();
    let known: Vec<String> = known.into_iter().map(|p| if p == "/dev/null" { "none".into() } else { p.replace("~", &home) }).collect();
    if want_known.len() == 2 && want_known[1].ends_with("/.ssh/known_hosts2") && known.len() == 1 {
        assert_eq!(known[0], want_known[0], "userknownhostsfile, {ctx}");
    } else {
        assert_eq!(known, want_known, "userknownhostsfile, {ctx}");
    }
    let ours_global: Vec<String> = got.extra_known_hosts.iter().map(|p| p.display().to_string()).filter(|p| globals.contains(p)).collect();
    assert_eq!(ours_global, globals, "globalknownhostsfile, {ctx}");
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    // The default user is root for us and the local user for OpenSSH: make them agree.
    std::fs::write(&p, format!("{text}\nHost *\n  User root\n")).unwrap();
    p
}

#[test]
fn resolution_matches_ssh_minus_g() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let none = SshOverrides::default();

    // Host patterns (wildcards, negation, several per line), first obtained value wins,
    // IdentityFile adds up, options before the first Host apply to all.
    let a = write(
        d,
        "patterns",
        "IdentitiesOnly no\n\
         Host etcd-a\n  HostName 10.77.0.11\n  User deploy\n  IdentityFile /keys/a\n\
         Host etcd-? node*\n  Port 2222\n  IdentityFile /keys/cluster\n  ProxyJump jump@bastion:2200,second\n\
         Host * !etcd-b\n  User fallback\n  IdentitiesOnly yes\n  IdentityFile=/keys/all\n\
         Host *.lab\n  HostName %h.example.com\n  Port=2200\n\
         Host bastion second\n  ProxyJump none\n",
    );
    for name in ["etcd-a", "etcd-b", "etcd-cc", "node01", "x.lab", "bastion", "10.77.0.11", "ETCD-A"] {
        compare(&a, name, &none);
    }
    // command-line values (the spec's, for us) win over the file
    let given = SshOverrides { user: Some("admin".into()), port: Some(2022), proxy_jump: Some("root@10.77.0.11:22".into()), ..none.clone() };
    compare(&a, "etcd-a", &given);
    compare(&a, "node01", &SshOverrides { proxy_jump: Some("none".into()), ..none.clone() });

    // Match: all, host (after HostName), originalhost, user, negation; quoting and = forms.
    let m = write(
        d,
        "match",
        "Host alias\n  HostName 10.77.0.12\n\
         Match host 10.77.0.12\n  Port 2212\n\
         Match originalhost alias !host 10.77.0.99\n  IdentityFile \"/keys/with space\"\n\
         Match user admin\n  IdentityFile /keys/admin\n\
         Match all\n  IdentitiesOnly yes\n",
    );
    for name in ["alias", "10.77.0.12", "other"] {
        compare(&m, name, &none);
        compare(&m, name, &SshOverrides { user: Some("admin".into()), ..none.clone() });
    }

    // Include (absolute, wildcards, inside a Host section).
    std::fs::create_dir(d.join("conf.d")).unwrap();
    std::fs::write(d.join("conf.d/a.conf"), "Port 2301\nHost inner\n  User inner\n").unwrap();
    std::fs::write(d.join("conf.d/b.conf"), "IdentityFile /keys/b\n").unwrap();
    let inc = write(d, "include", &format!("Host etcd-*\n  Include {}/conf.d/*.conf\n  User after\nHost *\n  IdentityFile /keys/last\n", d.display()));
    for name in ["etcd-a", "inner", "etcd-inner"] {
        compare(&inc, name, &none);
    }

    // Tokens and ~ in UserKnownHostsFile (the same tokens as IdentityFile),
    // without and with a jump host (%j, %C); `none`; GlobalKnownHostsFile.
    let tokens = "/kh/%h_%r_%p_%n_%u_%d_%i_%L_%l_%k_%%/%C ~/kh2";
    let t = write(
        d,
        "tokens",
        &format!(
            "Host direct\n  HostName 10.77.0.13\n  UserKnownHostsFile {tokens}\n\
             Host jumped\n  HostName 10.77.0.14\n  ProxyJump j1\n  UserKnownHostsFile {tokens}\n\
             Host nofile\n  UserKnownHostsFile none\n\
             Host global\n  GlobalKnownHostsFile /etc/k8sb/one /etc/k8sb/two\n"
        ),
    );
    for name in ["direct", "jumped", "nofile", "global", "plain"] {
        compare(&t, name, &none);
    }

    // StrictHostKeyChecking: refused exactly where OpenSSH would turn checking off.
    let s = write(
        d,
        "strict",
        "Host yes-first\n  StrictHostKeyChecking yes\nHost ask\n  StrictHostKeyChecking ask\nHost new\n  StrictHostKeyChecking accept-new\n\
         Host off\n  StrictHostKeyChecking off\nHost *\n  StrictHostKeyChecking no\n",
    );
    for name in ["yes-first", "ask", "new", "off", "other"] {
        compare(&s, name, &none);
    }
}
