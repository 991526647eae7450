//! `status`: the state of a cluster, read through the transports.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::spec::{ClusterSpec, Role};
use crate::transport::{Command, Transport};

use super::UNITS;

/// The state of one host.
///
/// ```
/// use std::sync::Arc;
/// use k8s_bootstrap_core::apply::{Engine, Unreachable};
/// use k8s_bootstrap_core::transport::TransportError;
/// # use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
/// # let mut spec = ClusterSpec::new(vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd, Role::Node])], Version::new(3, 5, 17), Version::new(0, 26, 1));
/// # spec.pki.key_algorithm = k8s_bootstrap_core::pki::KeyAlgorithm::EcdsaP256;
/// # let pki = k8s_bootstrap_core::pki::CertBundle::for_cluster(&spec).unwrap().generate().unwrap();
/// let down = TransportError::Connect { host: "etcd01".into(), reason: "connection refused".into() };
/// let engine = Engine::new(&spec, &pki, [("etcd01".to_string(), Arc::new(Unreachable::new("etcd01", &down)) as _)].into()).unwrap();
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let h = &engine.status().await.hosts["etcd01"];
/// assert!(!h.reachable && h.units.is_empty());
/// assert_eq!(h.error.as_deref(), Some("etcd01: connect failed: connection refused"));
/// # });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HostStatus {
    /// Whether the host answered.
    pub reachable: bool,
    /// The error when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `etcd`, `flanneld`, `docker` -> systemd's ActiveState (`active`,
    /// `inactive`, `failed`, ...) or `not-installed`.
    pub units: BTreeMap<String, String>,
    /// When docker runs: flannel's subnet (`FLANNEL_SUBNET` of
    /// /run/flannel/subnet.env) and docker0's address, which must be equal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_bridge: Option<DockerBridge>,
}

/// docker0 against flannel's subnet file on a host.
///
/// ```
/// use k8s_bootstrap_core::apply::{DockerBridge, HostStatus};
/// // docker started before flanneld wrote its subnet: docker0 kept docker's default.
/// let b = DockerBridge { flannel_subnet: Some("10.244.11.1/24".into()), docker0: Some("172.17.0.1/16".into()), matches: false };
/// let h = HostStatus { reachable: true, docker_bridge: Some(b), ..Default::default() };
/// let json = serde_json::to_value(&h).unwrap();
/// assert_eq!(json["docker_bridge"]["matches"], false);
/// assert!(json.get("error").is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DockerBridge {
    /// `FLANNEL_SUBNET` (`10.244.11.1/24`), if the file has it.
    pub flannel_subnet: Option<String>,
    /// docker0's IPv4 address with prefix, if docker0 exists.
    pub docker0: Option<String>,
    /// Whether both exist and are equal.
    pub matches: bool,
}

async fn docker_bridge(t: &Arc<dyn Transport>) -> Option<DockerBridge> {
    let script = "sed -n 's/^FLANNEL_SUBNET=//p' /run/flannel/subnet.env 2>/dev/null | head -n1; echo; \
                  ip -4 -o addr show dev docker0 2>/dev/null | awk '{print $4; exit}'";
    let out = t.run(&Command::new(["sh", "-c", script]).timeout(Duration::from_secs(20))).await.ok()?;
    let text = out.stdout_str();
    let mut parts = text.splitn(2, "\n\n");
    let clean = |s: Option<&str>| s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let flannel_subnet = clean(parts.next());
    let docker0 = clean(parts.next());
    let matches = flannel_subnet.is_some() && flannel_subnet == docker0;
    Some(DockerBridge { flannel_subnet, docker0, matches })
}

/// One etcd endpoint's health and the version its server reports.
///
/// ```
/// use k8s_bootstrap_core::apply::{ClusterStatus, EtcdMemberStatus};
/// let s = ClusterStatus {
///     etcd_endpoints: vec![
///         EtcdMemberStatus { endpoint: "https://192.168.1.30:2379".into(), healthy: true, server_version: Some("3.7.3".into()) },
///         EtcdMemberStatus { endpoint: "https://192.168.1.31:2379".into(), healthy: false, server_version: None },
///     ],
///     ..Default::default()
/// };
/// let down: Vec<&str> = s.etcd_endpoints.iter().filter(|e| !e.healthy).map(|e| e.endpoint.as_str()).collect();
/// assert_eq!(down, ["https://192.168.1.31:2379"]);
/// // In JSON (`status --output json`) a member that did not answer has `"server_version": null`.
/// let json = serde_json::to_value(&s.etcd_endpoints[1]).unwrap();
/// assert_eq!(json["server_version"], serde_json::Value::Null);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EtcdMemberStatus {
    /// The client URL.
    pub endpoint: String,
    /// Whether it answered a health check over TLS with the admin certificate.
    pub healthy: bool,
    /// The etcd server's version (`3.7.3`), as the member itself reports it
    /// (`etcdctl endpoint status`); `None` when it did not answer.
    pub server_version: Option<String>,
}

/// `etcdctl -w json endpoint status`: one entry per endpoint that answered
/// (an endpoint that did not is left out and named on stderr).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct EndpointStatus {
    #[serde(rename = "Endpoint")]
    pub(super) endpoint: String,
    #[serde(rename = "Status")]
    pub(super) status: EndpointStatusBody,
}

/// The fields of etcd's `StatusResponse` the engine reads (etcdctl 3.3 to
/// 3.7 print them all; the numbers are JSON numbers).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct EndpointStatusBody {
    pub(super) version: String,
    #[serde(default)]
    pub(super) header: StatusHeader,
    /// The member id of the leader this member sees.
    #[serde(default)]
    pub(super) leader: u64,
    #[serde(default, rename = "raftIndex")]
    pub(super) raft_index: u64,
    #[serde(default, rename = "raftAppliedIndex")]
    pub(super) raft_applied_index: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct StatusHeader {
    #[serde(default)]
    pub(super) member_id: u64,
}

/// Every entry of the JSON `etcdctl -w json endpoint status` prints;
/// `None` when the text is not that JSON.
pub(super) fn parse_endpoint_statuses(stdout: &str) -> Option<Vec<EndpointStatus>> {
    serde_json::from_str(stdout.trim()).ok()
}

/// Endpoint -> server version, from the JSON `etcdctl -w json endpoint
/// status` prints (3.3 to 3.7 print the same fields); `None` when the text
/// is not that JSON.
fn parse_endpoint_status(stdout: &str) -> Option<BTreeMap<String, String>> {
    let list = parse_endpoint_statuses(stdout)?;
    Some(list.into_iter().map(|e| (e.endpoint, e.status.version)).collect())
}

/// The state of a cluster.
///
/// ```no_run
/// # async fn run(engine: k8s_bootstrap_core::apply::Engine) {
/// let s = engine.status().await;
/// println!("etcd healthy: {} ({:?})", s.etcd_healthy, s.etcd_members);
/// for e in &s.etcd_endpoints {
///     println!("  {} {}", e.endpoint, if e.healthy { "healthy" } else { "UNHEALTHY" });
/// }
/// for (host, h) in &s.hosts {
///     println!("  {host}: {:?} docker0 matches flannel: {:?}", h.units, h.docker_bridge.as_ref().map(|b| b.matches));
/// }
/// println!("{}", serde_json::to_string_pretty(&s).unwrap()); // as `status --output json`
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClusterStatus {
    /// Per host.
    pub hosts: BTreeMap<String, HostStatus>,
    /// Health of every endpoint, as etcdctl reports it.
    pub etcd_endpoints: Vec<EtcdMemberStatus>,
    /// Member names etcd reports (`member list`).
    pub etcd_members: Vec<String>,
    /// Whether those are exactly the spec's etcd hosts.
    pub etcd_members_match_spec: bool,
    /// Whether every endpoint is healthy and the members match the spec.
    pub etcd_healthy: bool,
    /// flannel's network config as read back from etcd.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flannel_config: Option<String>,
    /// The etcd API it was read through (`v2` for flannel <= 0.17, `v3` after).
    pub flannel_api: String,
    /// What could not be read.
    pub problems: Vec<String>,
}

async fn units(t: &Arc<dyn Transport>) -> Result<BTreeMap<String, String>, String> {
    let mut argv = vec!["systemctl", "show", "-p", "Id,LoadState,ActiveState"];
    argv.extend(UNITS.iter().map(|u| match *u {
        "etcd" => "etcd.service",
        "flanneld" => "flanneld.service",
        _ => "docker.service",
    }));
    let out = t.run_ok(&Command::new(argv).timeout(Duration::from_secs(20))).await.map_err(|e| e.to_string())?;
    let mut map = BTreeMap::new();
    for block in out.stdout_str().split("\n\n") {
        let kv: BTreeMap<&str, &str> = block.lines().filter_map(|l| l.split_once('=')).collect();
        let Some(id) = kv.get("Id") else { continue };
        let name = id.trim_end_matches(".service").to_string();
        let state = if kv.get("LoadState") == Some(&"not-found") {
            "not-installed".to_string()
        } else {
            kv.get("ActiveState").copied().unwrap_or("unknown").to_string()
        };
        map.insert(name, state);
    }
    Ok(map)
}

pub(super) async fn collect<'a>(
    spec: &ClusterSpec,
    hosts: impl Iterator<Item = (&'a str, &'a Arc<dyn Transport>, &'a BTreeSet<Role>)>,
) -> ClusterStatus {
    let hosts: Vec<_> = hosts.collect();
    let mut st = ClusterStatus {
        flannel_api: if spec.needs_etcd_v2() { "v2" } else { "v3" }.to_string(),
        ..ClusterStatus::default()
    };
    let results = futures::future::join_all(hosts.iter().map(|(_, t, _)| units(t))).await;
    for ((name, _, _), r) in hosts.iter().zip(results) {
        let hs = match r {
            Ok(units) => HostStatus { reachable: true, error: None, units, docker_bridge: None },
            Err(e) => HostStatus { reachable: false, error: Some(e), units: BTreeMap::new(), docker_bridge: None },
        };
        st.hosts.insert(name.to_string(), hs);
    }
    for (name, t, _) in &hosts {
        let hs = st.hosts.get_mut(*name).expect("inserted above");
        if hs.units.get("docker").is_some_and(|s| s == "active") {
            hs.docker_bridge = docker_bridge(t).await;
            if let Some(b) = hs.docker_bridge.as_ref().filter(|b| !b.matches) {
                st.problems.push(format!("{name}: docker0 is {:?} but flannel's subnet is {:?}", b.docker0, b.flannel_subnet));
            }
        }
    }
    // A member's data dir gone, or damaged so that etcd fails on it.
    let dd = spec.etcd.data_dir.as_str();
    let installed = |name: &str| st.hosts[name].units.get("etcd").is_some_and(|s| s != "not-installed");
    let members: Vec<_> = hosts.iter().filter(|(name, _, roles)| roles.contains(&Role::Etcd) && installed(name)).collect();
    let checks = futures::future::join_all(members.iter().map(|(_, t, _)| {
        let script = crate::etcd::data_check_script(dd, "");
        async move { t.run_ok(&Command::new(["sh", "-c", script.as_str()]).timeout(Duration::from_secs(20))).await }
    }))
    .await;
    for ((name, _, _), r) in members.iter().zip(checks) {
        match r {
            Ok(out) => {
                for line in out.stdout_str().lines() {
                    match crate::etcd::DataCheck::parse(line) {
                        Some(crate::etcd::DataCheck::Member(false)) => {
                            st.problems.push(format!("{name}: etcd's data dir {dd} is gone (`apply` replaces the member: member remove, member add, join)"));
                        }
                        Some(crate::etcd::DataCheck::Error(e)) => {
                            st.problems.push(format!("{name}: etcd fails on its data dir {dd}: \"{e}\" (`apply` replaces the member: its data moved aside, member remove, member add, join)"));
                        }
                        Some(crate::etcd::DataCheck::Member(true)) | None => {}
                    }
                }
            }
            Err(e) => st.problems.push(format!("{name}: reading etcd's data dir {dd}: {e}")),
        }
    }
    let bin = format!("{}/bin", spec.layout.etcd_dir);
    let member = hosts
        .iter()
        .find(|(name, _, roles)| roles.contains(&Role::Etcd) && st.hosts[*name].units.get("etcd").is_some_and(|s| s == "active"));
    let Some((member_name, t, _)) = member else {
        st.problems.push("no etcd member is running: etcd health and flannel config not read".into());
        return st;
    };
    // Endpoint health: "<url> is healthy: ..." / "<url> is unhealthy: ...".
    match t.run(&Command::new([format!("{bin}/etcdctl-admin"), "endpoint".into(), "health".into()]).timeout(Duration::from_secs(30))).await {
        Ok(out) => {
            let text = format!("{}\n{}", out.stdout_str(), out.stderr_str());
            for line in text.lines() {
                if let Some((ep, rest)) = line.split_once(" is ") {
                    let ep = ep.trim().trim_start_matches("{\"level\"").to_string();
                    if ep.starts_with("https://") || ep.starts_with("http://") {
                        st.etcd_endpoints.push(EtcdMemberStatus { endpoint: ep, healthy: rest.starts_with("healthy"), server_version: None });
                    }
                }
            }
        }
        Err(e) => st.problems.push(format!("{member_name}: endpoint health: {e}")),
    }
    // Each member's own version. A member that is down is missing from
    // stdout (and etcdctl exits 1): the others are still read.
    let argv = [format!("{bin}/etcdctl-admin"), "-w".into(), "json".into(), "endpoint".into(), "status".into()];
    match t.run(&Command::new(argv).timeout(Duration::from_secs(30))).await {
        Ok(out) => match parse_endpoint_status(&out.stdout_str()) {
            Some(versions) => {
                for e in &mut st.etcd_endpoints {
                    e.server_version = versions.get(&e.endpoint).cloned();
                }
            }
            None => st.problems.push(format!("{member_name}: endpoint status: not etcdctl's JSON: {}", out.stderr_str().trim())),
        },
        Err(e) => st.problems.push(format!("{member_name}: endpoint status: {e}")),
    }
    match t.run_ok(&Command::new([format!("{bin}/etcdctl-admin"), "member".into(), "list".into()]).timeout(Duration::from_secs(30))).await {
        Ok(out) => {
            st.etcd_members = super::members::parse_member_list(&out.stdout_str()).into_iter().map(|m| m.name).collect();
            st.etcd_members.sort();
        }
        Err(e) => st.problems.push(format!("{member_name}: member list: {e}")),
    }
    let mut want: Vec<String> = spec.hosts_with(Role::Etcd).map(|h| h.name.clone()).collect();
    want.sort();
    st.etcd_members_match_spec = st.etcd_members == want;
    st.etcd_healthy = st.etcd_members_match_spec
        && st.etcd_endpoints.len() == want.len()
        && st.etcd_endpoints.iter().all(|e| e.healthy);

    let key = format!("{}/config", spec.network.etcd_prefix);
    let argv: Vec<String> = if spec.needs_etcd_v2() {
        vec![format!("{bin}/etcdctl-admin-v2"), "get".into(), key]
    } else {
        vec![format!("{bin}/etcdctl-admin"), "get".into(), "--print-value-only".into(), key]
    };
    match t.run(&Command::new(argv).timeout(Duration::from_secs(30))).await {
        Ok(out) if out.success() && !out.stdout_str().trim().is_empty() => st.flannel_config = Some(out.stdout_str().trim().to_string()),
        Ok(out) => st.problems.push(format!("{member_name}: flannel config not readable through {}: {}", st.flannel_api, out.stderr_str().trim())),
        Err(e) => st.problems.push(format!("{member_name}: flannel config: {e}")),
    }
    st
}

#[cfg(test)]
mod tests {
    use super::parse_endpoint_status;

    #[test]
    fn endpoint_status_json_of_etcdctl() {
        // etcdctl 3.7.3 (3.4 prints the same without storageVersion and later fields).
        let out = r#"[{"Endpoint":"https://10.77.0.11:2379","Status":{"header":{"cluster_id":1,"member_id":2,"revision":1,"raft_term":2},"version":"3.7.3","dbSize":20480,"leader":2,"raftIndex":4,"raftTerm":2,"raftAppliedIndex":4,"dbSizeInUse":16384,"storageVersion":"3.7.0","dbSizeQuota":2147483648,"downgradeInfo":{}}},{"Endpoint":"https://10.77.0.12:2379","Status":{"header":{"cluster_id":1,"member_id":3,"revision":1,"raft_term":2},"version":"3.4.23","dbSize":20480,"leader":2,"raftIndex":4,"raftTerm":2,"raftAppliedIndex":4,"dbSizeInUse":16384}}]
"#;
        let v = parse_endpoint_status(out).unwrap();
        assert_eq!(v["https://10.77.0.11:2379"], "3.7.3");
        assert_eq!(v["https://10.77.0.12:2379"], "3.4.23");
        assert_eq!(parse_endpoint_status("[]").unwrap().len(), 0); // every member down
        let all = super::parse_endpoint_statuses(out).unwrap();
        assert_eq!((all[0].status.header.member_id, all[0].status.leader, all[0].status.raft_index, all[0].status.raft_applied_index), (2, 2, 4, 4));
        assert!(parse_endpoint_status("Error: context deadline exceeded").is_none());
    }
}
