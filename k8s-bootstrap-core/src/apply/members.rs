//! etcd membership changes: joining members to a running cluster and
//! removing the members the spec no longer has, one at a time.

use super::{Ctx, HostView, Stage, StepError};
use crate::transport::Command;

/// One line of `etcdctl member list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Member {
    pub id: String,
    pub started: bool,
    pub name: String,
    pub peer: String,
}

/// Parses `etcdctl member list` (`id, started, name, peer urls, client urls[, learner]`).
pub(super) fn parse_member_list(text: &str) -> Vec<Member> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(", ").collect();
            (f.len() >= 5).then(|| Member {
                id: f[0].trim().to_string(),
                started: f[1].trim() == "started",
                name: f[2].trim().to_string(),
                peer: f[3].trim().split(',').next().unwrap_or_default().to_string(),
            })
        })
        .collect()
}

/// Runs a membership change on `probe`. etcd refuses one ("unhealthy
/// cluster") until the members it counts on have been connected for a few
/// seconds (strict reconfiguration check): retried for up to a minute.
pub(super) async fn reconfigure(probe: &HostView<'_>, cmd: &Command) -> Result<crate::transport::Output, crate::transport::TransportError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match probe.transport.run_ok(cmd).await {
            Err(e) if e.to_string().contains("unhealthy cluster") && std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

impl Ctx<'_> {
    pub(super) fn admin(&self) -> String {
        super::plan::etcdctl_admin(self.spec)
    }

    /// The file the etcd unit reads (optionally) after its env file, written
    /// only while a member joins a running cluster.
    pub(super) fn join_file(&self) -> String {
        format!("{}/cfg/etcd-join", self.spec.layout.etcd_dir)
    }

    /// The peer URL of the spec host `name`.
    pub(super) fn peer_url(&self, name: &str) -> String {
        super::plan::peer_url(self.spec, name)
    }

    /// `etcdctl-admin ARGS` for `probe`, through its own member alone: with
    /// the wrapper's list of every member, etcdctl may send a membership
    /// change to another member, and when that member's link goes down
    /// before it answers, the answer is lost after etcd made the change.
    fn admin_on(&self, probe: &HostView<'_>, args: &[&str]) -> Command {
        let mut argv = vec![self.admin(), format!("--endpoints={}", super::plan::client_url(self.spec, &probe.name))];
        argv.extend(args.iter().map(|a| a.to_string()));
        Command::new(argv)
    }

    /// `etcdctl member list` on `probe`, through its own member.
    async fn member_list(&self, probe: &HostView<'_>) -> Result<Vec<Member>, String> {
        let out = probe
            .transport
            .run_ok(&self.admin_on(probe, &["member", "list"]).timeout(std::time::Duration::from_secs(30)))
            .await
            .map_err(|e| format!("etcd member list on {}: {e}", probe.name))?;
        Ok(parse_member_list(&out.stdout_str()))
    }

    /// Adds host `i` to the cluster (unless `known`: an earlier run added it
    /// and it never started), writes its join file and starts it. With
    /// `replace` (the id its member had, whose data is gone) or
    /// `move_data`, its etcd is stopped first; with `replace` that member
    /// is removed; then its data dir is moved aside (kept as
    /// `DIR.replaced-EPOCH`).
    pub(super) async fn join(&self, hosts: &mut [HostView<'_>], probe: usize, i: usize, known: bool, replace: Option<&str>, move_data: bool) -> Result<(), String> {
        let name = hosts[i].name.clone();
        let peer = self.peer_url(&name);
        if replace.is_some() || move_data {
            // It may run on deleted files, or be in systemd's restart loop
            // (a removed member exits): stopped before its data moves.
            self.unit_verb(&hosts[i], "etcd", "stop", true).await.map_err(|e| format!("{name}: stopping etcd before its data dir moves aside: {}", e.error))?;
        }
        if let Some(id) = replace {
            let remove = Command::new([self.admin(), "member".into(), "remove".into(), id.to_string()]);
            reconfigure(&hosts[probe], &remove).await.map_err(|e| format!("etcd member remove {id} ({name}, being replaced): {e}; later stages not started"))?;
        }
        if replace.is_some() || move_data {
            let dd = self.spec.etcd.data_dir.as_str();
            let aside = Command::new(["sh", "-c", "if [ -e \"$1\" ]; then mv -- \"$1\" \"$1.replaced-$(date +%s)\"; fi", "sh", dd]);
            hosts[i].transport.run_ok(&aside).await.map_err(|e| format!("{name}: moving {dd} aside: {e}"))?;
        }
        let known_parts = |list: &[Member]| {
            let mut parts: Vec<String> = list.iter().filter(|m| m.started).map(|m| format!("{}={}", m.name, m.peer)).collect();
            parts.push(format!("{name}={peer}"));
            parts.join(",")
        };
        let initial_cluster = match known {
            false => {
                let add = self.admin_on(&hosts[probe], &["member", "add", &name, &format!("--peer-urls={peer}")]);
                match reconfigure(&hosts[probe], &add).await {
                    Ok(out) => {
                        let text = out.stdout_str();
                        text.lines()
                            .find_map(|l| l.strip_prefix("ETCD_INITIAL_CLUSTER=").map(|v| v.trim_matches('"').to_string()))
                            .ok_or_else(|| format!("etcd member add {name}: no ETCD_INITIAL_CLUSTER in its output: {text}"))?
                    }
                    // An add that did not answer may still have been made
                    // (a leader lost as it committed, a timeout): a member
                    // added and never started counts against the quorum,
                    // so the member list decides whether to go on.
                    Err(e) => match self.member_list(&hosts[probe]).await {
                        Ok(list) if list.iter().any(|m| m.peer == peer) => {
                            let note = format!("etcd member add {name} failed ({e}), but the member list on {} has it: going on with the join", hosts[probe].name);
                            tracing::warn!(host = %name, "{note}");
                            self.note(&mut hosts[i], note);
                            known_parts(&list)
                        }
                        Ok(_) => return Err(format!("etcd member add {name}: {e}; the member list on {} does not have it; later stages not started", hosts[probe].name)),
                        Err(l) => return Err(format!(
                            "etcd member add {name}: {e}; whether it was made is unknown ({l}): if `etcdctl member list` shows {peer} unstarted, apply again to start it, or remove it; later stages not started"
                        )),
                    },
                }
            }
            true => known_parts(&self.member_list(&hosts[probe]).await.map_err(|e| format!("{e}; later stages not started"))?),
        };
        let join = format!(
            "# Written by k8s-bootstrap while {name} joins the running cluster; removed once it is healthy.\n\
             ETCD_INITIAL_CLUSTER=\"{initial_cluster}\"\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n"
        );
        let h = &mut hosts[i];
        let join_file = self.join_file();
        let r: Result<(), StepError> = async {
            h.transport
                .put_file(&join_file, &join.into_bytes().into(), &crate::transport::PutOptions::new(0o644))
                .await
                .map_err(|e| StepError::from((format!("write {join_file}"), e)))?;
            self.unit_verb(h, "etcd", "start", true).await
        }
        .await;
        if let Err(e) = r {
            self.fail_with_log(h, Stage::Etcd, e);
            return Err(format!("{name}: joining the etcd cluster failed; later stages not started"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_list_lines() {
        let text = "8e9e05c52164694d, started, etcd01, https://10.77.0.11:2380, https://10.77.0.11:2379, false\n\
                    91bc3c398fb3c146, unstarted, , https://10.77.0.14:2380, , false\n";
        let l = parse_member_list(text);
        assert_eq!(l.len(), 2);
        assert_eq!((l[0].name.as_str(), l[0].started, l[0].peer.as_str()), ("etcd01", true, "https://10.77.0.11:2380"));
        assert_eq!((l[1].name.as_str(), l[1].started, l[1].peer.as_str()), ("", false, "https://10.77.0.14:2380"));
    }
}
