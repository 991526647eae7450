//! The rules of a whole spec: every builder's rules, with field paths of
//! the spec, plus the rules that span sections.

use std::collections::HashMap;

use super::{CertLayout, ClusterSpec, Ipv4Cidr, Problem, Role, Warning};
use crate::docker::{DockerInstall, DockerMode, DockerUnit};
use crate::etcd::EtcdCluster;
use crate::flannel::FlannelConfig;
use crate::hostprep::HostPrep;
use crate::model::name_rule;

fn map_etcd_path(spec: &ClusterSpec, p: Problem) -> Problem {
    let etcd_hosts: Vec<usize> = spec.hosts.iter().enumerate().filter(|(_, h)| h.has(Role::Etcd)).map(|(i, _)| i).collect();
    let path = p.path.clone();
    let new = if path == "version" {
        "versions.etcd".to_string()
    } else if path == "enable_v2" {
        "versions".to_string()
    } else if path == "members" {
        "hosts".to_string()
    } else if let Some(rest) = path.strip_prefix("members[") {
        let (idx, tail) = rest.split_once(']').unwrap_or((rest, ""));
        let host = idx.parse::<usize>().ok().and_then(|i| etcd_hosts.get(i).copied()).unwrap_or(0);
        let tail = match tail {
            ".client_port" => ".address".to_string(),
            ".peer_port" => ".address".to_string(),
            t => t.to_string(),
        };
        format!("hosts[{host}]{tail}")
    } else if path == "etcd_dir" || path == "systemd_dir" {
        format!("layout.{path}")
    } else {
        format!("etcd.{path}")
    };
    Problem { path: new, ..p }
}

fn map_flannel_path(p: Problem) -> Problem {
    let new = match p.path.as_str() {
        "version" => "versions.flannel".to_string(),
        "kubernetes_dir" | "systemd_dir" => format!("layout.{}", p.path),
        other => format!("network.{other}"),
    };
    Problem { path: new, ..p }
}

fn push_unique(v: &mut Vec<Problem>, p: Problem) {
    if !v.contains(&p) {
        v.push(p);
    }
}

/// Every problem and warning of `spec`.
/// `SHA256:` and 43 base64 characters (32 bytes), as `ssh-keygen -lf` prints it.
fn is_sha256_fingerprint(k: &str) -> bool {
    k.strip_prefix("SHA256:").is_some_and(|b| {
        let b = b.trim_end_matches('=');
        b.len() == 43 && b.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
    })
}

/// Why a `ProxyJump` value is malformed (the ssh_config parser's rule).
#[cfg(feature = "ssh")]
fn proxy_jump_problem(j: &str) -> Option<String> {
    crate::transport::check_proxy_jump(j).err()
}
#[cfg(not(feature = "ssh"))]
fn proxy_jump_problem(_: &str) -> Option<String> {
    None
}

pub(crate) fn check(spec: &ClusterSpec) -> (Vec<Problem>, Vec<Warning>) {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();

    if spec.hosts.is_empty() {
        problems.push(Problem::new("hosts", "[]", "a cluster needs at least one host"));
    }
    let b = &spec.binaries;
    for (field, release, singles) in [
        ("etcd_release", &b.etcd_release, &[("etcd", &b.etcd), ("etcdctl", &b.etcdctl)][..]),
        ("flannel_release", &b.flannel_release, &[("flanneld", &b.flanneld)][..]),
    ] {
        let Some(r) = release else { continue };
        let at = format!("binaries.{field}");
        match (&r.path, &r.url) {
            (Some(_), Some(_)) | (None, None) => {
                problems.push(Problem::new(&at, format!("{r:?}"), "give exactly one of path and url"));
            }
            (None, Some(u)) if !(u.starts_with("https://") || u.starts_with("http://")) => {
                problems.push(Problem::new(format!("{at}.url"), u, "an http(s) URL"));
            }
            (None, Some(_)) if r.sha256.is_none() => {
                problems.push(Problem::new(format!("{at}.sha256"), "<absent>", "a downloaded release needs its sha256").fix("sha256sum the tarball you trust and put the hex here"));
            }
            _ => {}
        }
        if let Some(h) = &r.sha256
            && (h.len() != 64 || !h.bytes().all(|c| c.is_ascii_hexdigit()))
        {
            problems.push(Problem::new(format!("{at}.sha256"), h, "64 hex digits"));
        }
        for (name, single) in singles {
            if single.is_some() {
                problems.push(Problem::new(format!("binaries.{name}"), single.as_deref().unwrap_or_default(), format!("{name} also comes from binaries.{field}: give one or the other")));
            }
        }
    }
    if let Some(m) = &b.mk_docker_opts {
        warnings.push(
            Warning::new("binaries.mk_docker_opts", m, "no longer used: docker takes --bip and --mtu from flanneld's subnet.env itself, so no script runs on the hosts")
                .fix("remove binaries.mk_docker_opts"),
        );
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut addrs: HashMap<std::net::Ipv4Addr, usize> = HashMap::new();
    for (i, h) in spec.hosts.iter().enumerate() {
        let at = format!("hosts[{i}]");
        if let Some(rule) = name_rule(&h.name) {
            problems.push(Problem::new(format!("{at}.name"), &h.name, rule).fix("use names like etcd01"));
        }
        if let Some(j) = names.insert(&h.name, i) {
            problems.push(Problem::new(format!("{at}.name"), &h.name, format!("host names must be unique (also used by hosts[{j}])")));
        }
        if let Some(j) = addrs.insert(h.address, i) {
            problems.push(Problem::new(format!("{at}.address"), h.address, format!("host addresses must be unique (also used by hosts[{j}])")));
        }
        if h.address.is_unspecified() || h.address.is_broadcast() || h.address.is_multicast() {
            problems.push(Problem::new(format!("{at}.address"), h.address, "a host address is a unicast address"));
        }
        if h.roles.is_empty() {
            problems.push(Problem::new(format!("{at}.roles"), "[]", "a host needs at least one role").fix("use [etcd], [node] or [etcd, node]"));
        }
        if let Some(ssh) = &h.ssh {
            if ssh.port == Some(0) {
                problems.push(Problem::new(format!("{at}.ssh.port"), 0, "ports are 1-65535"));
            }
            if let Some(user) = &ssh.user
                && (user.is_empty() || user.contains(|c: char| c.is_whitespace() || c == '@'))
            {
                problems.push(Problem::new(format!("{at}.ssh.user"), user, "a user name is non-empty, without spaces or @"));
            }
            if let Some(k) = &ssh.host_key {
                if ["off", "no", "none", "false", "insecure", "any", "*"].contains(&k.trim().to_ascii_lowercase().as_str()) {
                    problems.push(
                        Problem::new(format!("{at}.ssh.host_key"), k, "host key checking cannot be turned off from the spec")
                            .fix("pin the host's fingerprint (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the host), or leave host_key out and record the key in known_hosts"),
                    );
                } else if !is_sha256_fingerprint(k) {
                    problems.push(Problem::new(format!("{at}.ssh.host_key"), k, "a host key fingerprint looks like SHA256:<43 base64 characters> (ssh-keygen -lf)"));
                }
            }
            if let Some(j) = &ssh.proxy_jump
                && let Some(why) = proxy_jump_problem(j)
            {
                problems.push(Problem::new(format!("{at}.ssh.proxy_jump"), j, why).fix("write [user@]host[:port], several separated by commas, or none"));
            }
        }
        if let Some(iface) = &h.iface
            && (iface.is_empty() || iface.len() > 15 || !iface.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b)))
        {
            problems.push(Problem::new(format!("{at}.iface"), iface, "an interface name is 1-15 characters of [A-Za-z0-9._-@]"));
        }
        if spec.network.pod_cidr.contains(h.address) {
            problems.push(
                Problem::new("network.pod_cidr", spec.network.pod_cidr, format!("the pod network contains the address {} of host {}", h.address, h.name))
                    .fix("pick a pod network that no host is on, for example 10.244.0.0/16"),
            );
        }
        if let Some(svc) = spec.network.service_cidr
            && svc.contains(h.address)
        {
            problems.push(Problem::new("network.service_cidr", svc, format!("the service network contains the address {} of host {}", h.address, h.name)));
        }
    }

    // etcd
    let etcd = EtcdCluster::from_spec(spec);
    for p in etcd.validate() {
        let mut p = map_etcd_path(spec, p);
        if p.path == "versions" {
            p.value = format!("etcd {}, flannel {}", spec.versions.etcd, spec.versions.flannel);
        }
        push_unique(&mut problems, p);
    }
    let members = etcd.members.len();
    if members > 0 && members.is_multiple_of(2) {
        warnings.push(
            Warning::new("hosts", format!("{members} etcd members"), format!("an even member count tolerates no more failures than {} members", members - 1))
                .fix(format!("use {} or {} etcd members", members - 1, members + 1)),
        );
    }

    // flannel
    let flannel = FlannelConfig::from_spec(spec);
    for p in flannel.validate() {
        push_unique(&mut problems, map_flannel_path(p));
    }
    let net = spec.network.pod_cidr;
    if net.overlaps(&Ipv4Cidr::DOCKER_DEFAULT) {
        warnings.push(
            Warning::new("network.pod_cidr", net, "overlaps docker's default bridge 172.17.0.0/16: a dockerd started without flannel's --bip takes 172.17.0.1/16")
                .fix("use 10.244.0.0/16"),
        );
    }
    if let Some(svc) = spec.network.service_cidr
        && svc.overlaps(&net)
    {
        problems.push(Problem::new("network.service_cidr", svc, format!("the service network overlaps the pod network {net}")).fix("use 10.96.0.0/12 with pod network 10.244.0.0/16"));
    }
    if spec.hosts_with(Role::Node).next().is_some() && spec.hosts_with(Role::Etcd).next().is_none() && !spec.hosts.is_empty() {
        // Already reported by the etcd members rule; nothing more to add.
    }

    // docker's install, once for the cluster
    if spec.hosts_with(Role::Node).next().is_some() {
        for p in spec.docker.install.validate() {
            push_unique(&mut problems, Problem { path: format!("docker.install.{}", p.path), ..p });
        }
        let packaged = ["/usr/sbin/dockerd", "/usr/bin/dockerd"];
        if spec.docker.install != DockerInstall::None && !packaged.contains(&spec.layout.dockerd.as_str()) {
            warnings.push(
                Warning::new("layout.dockerd", &spec.layout.dockerd, "a node without dockerd there gets the engine's package, which puts dockerd at /usr/sbin/dockerd (Debian's docker.io) or /usr/bin/dockerd (docker-ce)")
                    .fix("point layout.dockerd at the package's dockerd, or set docker.install: none"),
            );
        }
    }

    // docker, per node
    for (i, h) in spec.hosts.iter().enumerate().filter(|(_, h)| h.has(Role::Node)) {
        for p in DockerUnit::from_spec(spec, h).validate() {
            let path = match p.path.as_str() {
                "bip" => format!("hosts[{i}].docker_bip"),
                "dockerd" | "systemd_dir" => format!("layout.{}", p.path),
                other => format!("docker.{other}"),
            };
            push_unique(&mut problems, Problem { path, ..p });
        }
        if spec.docker.mode == DockerMode::DaemonJson {
            match h.docker_bip.as_deref().and_then(|b| b.split_once('/')).and_then(|(ip, _)| ip.parse().ok()) {
                None => warnings.push(
                    Warning::new(format!("hosts[{i}].docker_bip"), "none", "in daemon-json mode a node without bip gets docker's default 172.17.0.1/16")
                        .fix("set docker_bip to the node's flannel subnet, or use mode flannel-env"),
                ),
                Some(ip) if !net.contains(ip) => warnings.push(Warning::new(format!("hosts[{i}].docker_bip"), h.docker_bip.clone().unwrap_or_default(), format!("outside the pod network {net}"))),
                _ => {}
            }
        }
        for p in HostPrep::from_spec(spec, h).validate() {
            let path = if p.path == "hostname" { format!("hosts[{i}].name") } else { "hostprep".to_string() };
            push_unique(&mut problems, Problem { path, ..p });
        }
    }

    // PKI
    let pki = &spec.pki;
    if pki.ca_subject.common_name.trim().is_empty() {
        problems.push(Problem::new("pki.ca_subject.common_name", "\"\"", "the CA needs a common name"));
    }
    for (field, days) in [("ca_validity_days", pki.ca_validity_days), ("leaf_validity_days", pki.leaf_validity_days)] {
        if days == 0 {
            problems.push(Problem::new(format!("pki.{field}"), days, "a validity is at least one day"));
        }
    }
    if pki.leaf_validity_days > pki.ca_validity_days {
        problems.push(Problem::new("pki.leaf_validity_days", pki.leaf_validity_days, format!("leaf certs cannot outlive the CA ({} days)", pki.ca_validity_days)));
    }
    if pki.renew_before_days >= pki.leaf_validity_days && pki.leaf_validity_days > 0 {
        problems.push(Problem::new("pki.renew_before_days", pki.renew_before_days, format!("must be below leaf_validity_days ({})", pki.leaf_validity_days)));
    }
    for (i, san) in pki.extra_sans.iter().enumerate() {
        if san.is_empty() || san.contains(|c: char| c.is_whitespace() || c == ',') {
            problems.push(Problem::new(format!("pki.extra_sans[{i}]"), san, "a SAN is a DNS name or an IP address, without spaces or commas"));
        }
    }
    if let Some(w) = pki.key_algorithm.compatibility_warning(Some(spec.versions.etcd.major_minor()), Some(spec.versions.flannel.major_minor())) {
        warnings.push(Warning::new("pki.key_algorithm", pki.key_algorithm, w).fix("use ecdsa-p256 or rsa-2048"));
    }
    if pki.layout == CertLayout::Tutorial {
        warnings.push(
            Warning::new("pki.layout", "tutorial", "one server.pem serves as server, peer and client cert on every host")
                .fix("use per-member"),
        );
    }
    (problems, warnings)
}
