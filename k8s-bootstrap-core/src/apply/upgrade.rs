//! The rolling upgrade's I/O: the versions the running members report
//! (facts, read before anything changes) and the gate after each upgraded
//! member (it reports the wanted version and has applied everything the
//! leader had when it came back). The decision itself is
//! [`crate::etcd::upgrade::plan_upgrade`].

use std::time::{Duration, Instant};

use crate::spec::{Role, Version};
use crate::transport::Command;

use super::status::{EndpointStatus, parse_endpoint_statuses};
use super::{Ctx, HostView};

/// `etcdctl endpoint status` through the admin wrapper, only where etcd runs
/// and the wrapper is installed (exit 3 otherwise, without waiting for a
/// dial timeout).
const STATUS_SCRIPT: &str = r#"systemctl is-active --quiet etcd && [ -x "$1" ] || exit 3; exec "$1" -w json endpoint status"#;

impl Ctx<'_> {
    /// `://10.77.0.11:2379` of each etcd member of the spec, by name.
    fn member_endpoints(&self) -> Vec<(String, String)> {
        self.spec.hosts_with(Role::Etcd).map(|m| (m.name.clone(), format!("://{}:{}", m.address, self.spec.etcd.client_port))).collect()
    }

    /// The endpoint status of every member that answers, read on the first
    /// host (in spec order) where etcd runs; `Ok(None)` when etcd runs on
    /// no reachable member (a first apply). `Err` names the host and what
    /// it printed when the answer is not etcdctl's JSON.
    async fn endpoint_statuses(&self, hosts: &[HostView<'_>], only_active: bool) -> Result<Option<(String, Vec<EndpointStatus>)>, String> {
        let etcd_unit = self.unit_path("etcd");
        let argv = ["sh".to_string(), "-c".into(), STATUS_SCRIPT.into(), "sh".into(), self.admin()];
        let mut problem = None;
        // The run's own hosts first: `--only etcd02` asks etcd02.
        let members = hosts.iter().filter(|h| h.roles.contains(&Role::Etcd) && h.render.file(&etcd_unit).is_some());
        let (selected, others): (Vec<_>, Vec<_>) = members.partition(|h| h.selected);
        for h in selected.into_iter().chain(others) {
            if only_active && h.report.failed.is_some() {
                continue;
            }
            let Ok(out) = h.transport.run(&Command::new(argv.clone()).timeout(Duration::from_secs(30))).await else {
                continue; // unreachable: ask the next member
            };
            if out.stdout_str().trim().is_empty() {
                continue; // etcd does not run there (exit 3), or no endpoint answered
            }
            // etcdctl exits 1 when one endpoint did not answer; the others are on stdout.
            match parse_endpoint_statuses(&out.stdout_str()) {
                Some(list) if !list.is_empty() => return Ok(Some((h.name.clone(), list))),
                _ => {
                    let text = format!("{}{}", out.stdout_str(), out.stderr_str());
                    problem.get_or_insert(format!("{}: `{} -w json endpoint status`: {}", h.name, self.admin(), text.trim()));
                }
            }
        }
        match problem {
            Some(p) => Err(p),
            None => Ok(None),
        }
    }

    /// After `member` restarted on the new binary (and the cluster is
    /// healthy again): waits until it reports the wanted version and has
    /// applied every entry the leader's log held when it first did.
    pub(super) async fn wait_caught_up(&self, hosts: &[HostView<'_>], member: &str, timeout: Duration) -> Result<(), String> {
        let wanted = self.spec.versions.etcd;
        let at_wanted = |v: &str| {
            v.parse::<Version>().is_ok_and(|v| v.major_minor() == wanted.major_minor() && wanted.patch.is_none_or(|p| v.patch == Some(p)))
        };
        let Some((_, ep)) = self.member_endpoints().into_iter().find(|(n, _)| n == member) else {
            return Ok(());
        };
        let deadline = Instant::now() + timeout;
        let mut target: Option<u64> = None;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            match self.endpoint_statuses(hosts, true).await {
                Ok(Some((probe, list))) => {
                    let me = list.iter().find(|s| s.endpoint.ends_with(&ep));
                    let leader = list.iter().find(|s| s.status.leader != 0 && s.status.header.member_id == s.status.leader);
                    match (me, leader) {
                        (Some(me), _) if !at_wanted(&me.status.version) => {
                            last = format!("{member} reports etcd {} (read on {probe}), versions.etcd is {wanted}", me.status.version);
                        }
                        (Some(me), Some(leader)) => {
                            let want = *target.get_or_insert(leader.status.raft_index);
                            let applied = if me.status.raft_applied_index > 0 { me.status.raft_applied_index } else { me.status.raft_index };
                            if applied >= want {
                                return Ok(());
                            }
                            last = format!("{member} has applied raft index {applied}, the leader was at {want} (read on {probe})");
                        }
                        (Some(_), None) => last = format!("no leader among the members that answered on {probe}"),
                        (None, _) => last = format!("{member} did not answer endpoint status (read on {probe})"),
                    }
                }
                Ok(None) => last = "no member to read endpoint status on".into(),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(format!("etcd upgrade: {member} did not catch up within {timeout:?}: {last}; later members were not upgraded, apply again to resume"))
    }
}

