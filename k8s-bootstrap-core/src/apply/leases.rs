//! `reset --purge` of a node gives its flannel lease back: the subnet
//! flanneld leased in etcd (`<prefix>/subnets/<net>-<len>`) is deleted
//! through an etcd member, so that a node that comes back, or a new one,
//! can lease again instead of waiting out the lease's 24 h TTL.

use super::{Ctx, HostView, Stage};
use crate::etcd::{EtcdApi, EtcdCluster};
use crate::flannel::{SUBNET_ENV, needs_etcd_v2};
use crate::spec::Role;
use crate::transport::Command;

/// The lease key of a subnet.env's `FLANNEL_SUBNET` (`10.244.7.1/24` ->
/// `<prefix>/subnets/10.244.7.0-24`), or `None` when it holds none.
fn lease_key(prefix: &str, subnet_env: &str) -> Option<String> {
    let gw = subnet_env.lines().find_map(|l| l.strip_prefix("FLANNEL_SUBNET="))?.trim();
    let (ip, len) = gw.split_once('/')?;
    let ip: std::net::Ipv4Addr = ip.parse().ok()?;
    let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    let net = std::net::Ipv4Addr::from(u32::from(ip) & mask);
    Some(format!("{}/subnets/{net}-{len}", prefix.trim_end_matches('/')))
}

impl Ctx<'_> {
    /// Before the hosts are reset: for each selected node with a lease,
    /// delete it through the first etcd member that answers (unselected
    /// members first: they keep running after the reset).
    pub(super) async fn release_leases(&self, hosts: &mut [HostView<'_>]) {
        let etcd = EtcdCluster::from_spec(self.spec);
        let v2 = needs_etcd_v2(self.spec.versions.flannel);
        let wrapper = etcd.etcdctl_wrapper(if v2 { EtcdApi::V2 } else { EtcdApi::V3 });
        let mut members: Vec<_> = hosts.iter().filter(|h| h.roles.contains(&Role::Etcd)).map(|h| (h.selected, h.transport.clone())).collect();
        members.sort_by_key(|(selected, _)| *selected);
        for h in hosts.iter_mut().filter(|h| h.selected && h.roles.contains(&Role::Node)) {
            let Ok(Some(env)) = h.transport.read_file(SUBNET_ENV).await else { continue };
            let Some(key) = lease_key(&self.spec.network.etcd_prefix, &String::from_utf8_lossy(&env)) else { continue };
            let argv = if v2 { vec![wrapper.clone(), "rm".into(), key.clone()] } else { vec![wrapper.clone(), "del".into(), key.clone()] };
            let mut released = false;
            for (_, m) in &members {
                if let Ok(out) = m.run(&Command::new(argv.clone()).timeout(std::time::Duration::from_secs(20))).await
                    && out.success()
                {
                    released = true;
                    break;
                }
            }
            if released {
                self.changed(h, Stage::Files, format!("release flannel's lease {key} in etcd"), None);
            } else {
                self.note(h, format!("flannel's lease {key} could not be released (no etcd member answered): it expires by itself"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::lease_key;

    #[test]
    fn lease_keys_as_flanneld_names_them() {
        // flanneld writes FLANNEL_SUBNET as the lease's first address; the key is the network
        let env = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.61.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";
        assert_eq!(lease_key("/coreos.com/network", env).as_deref(), Some("/coreos.com/network/subnets/10.244.61.0-24"));
        assert_eq!(lease_key("/k8s/net/", "FLANNEL_SUBNET=10.1.2.129/25\n").as_deref(), Some("/k8s/net/subnets/10.1.2.128-25"));
        assert_eq!(lease_key("/p", "FLANNEL_NETWORK=10.0.0.0/8\n"), None);
        assert_eq!(lease_key("/p", "FLANNEL_SUBNET=garbage\n"), None);
    }
}
