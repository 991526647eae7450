//! Host preparation's `firewall: open-ports` against a real firewalld
//! (issue 16): Debian's firewalld running on 3 test hosts, whose default
//! zone rejects everything but ssh (one host has its eth0 in the `internal`
//! zone). apply opens etcd's ports (2379/2380 tcp) and the vxlan port
//! (8472/udp) in the zone of the interface holding the host's address, now
//! and in the permanent configuration; the etcd members find each other through the firewall
//! (apply's health gate). A port closed behind the tool's back is reopened
//! by the next apply, and only that; then node-to-node traffic crosses the
//! vxlan overlay, a port nobody asked for stays closed, and a further
//! apply changes nothing.
//!
//! Needs root and scripts/setup (firewalld, flanneld, socat); fails, never skips.

use std::collections::BTreeSet;

use k8s_bootstrap_core::apply::{ApplyOptions, Engine, Report};
use k8s_bootstrap_core::hostprep::FirewallMode;
use k8s_bootstrap_core::pki::{CertBundle, Issued};
use k8s_bootstrap_core::spec::ClusterSpec;
use k8s_bootstrap_testbed::{Host, Testbed, binaries};

fn spec() -> ClusterSpec {
    let mut spec = binaries::testbed_spec().expect("the testbed spec and the binaries of scripts/setup");
    spec.hostprep.firewall = FirewallMode::OpenPorts;
    spec
}

async fn apply(tb: &Testbed, spec: &ClusterSpec, pki: &Issued) -> Report {
    let engine = Engine::new(spec, pki, tb.transports(spec).await).expect("engine");
    engine.apply(&ApplyOptions::default()).await
}

/// The ports firewalld has open in `zone`, now or permanently.
fn open_ports(h: &Host, zone: &str, permanent: bool) -> BTreeSet<String> {
    let flag = if permanent { " --permanent" } else { "" };
    let out = h.sh(&format!("firewall-cmd{flag} --zone={zone} --list-ports 2>/dev/null")).unwrap_or_else(|e| panic!("{}: {e}", h.name));
    out.split_whitespace().map(str::to_string).collect()
}

/// Whether a TCP connect from `from` to `to:port` succeeds (a listener is there).
fn tcp_reaches(from: &Host, to: &Host, port: u16) -> bool {
    from.sh(&format!("socat -u OPEN:/dev/null TCP:{}:{port},connect-timeout=3", to.ip)).is_ok()
}

/// A TCP listener on `port` for the negative checks (killed by `stop_listener`).
fn listen(h: &Host, port: u16) {
    h.sh(&format!("setsid socat TCP-LISTEN:{port},fork,reuseaddr OPEN:/dev/null </dev/null >/dev/null 2>&1 & sleep 0.3")).unwrap();
}

fn stop_listener(h: &Host, port: u16) {
    let _ = h.sh(&format!("pkill -f 'socat TCP-LISTEN:{port},' ; true"));
}

/// flanneld's subnet on `h`, as docker0's address (`10.244.7.1`).
fn docker0(h: &Host) -> String {
    let env = h.sh("cat /run/flannel/subnet.env").unwrap();
    let subnet = env.lines().find_map(|l| l.strip_prefix("FLANNEL_SUBNET=")).expect("FLANNEL_SUBNET").to_string();
    subnet.split_once('/').unwrap().0.to_string()
}

fn vxlan_packets(h: &Host) -> u64 {
    let v: serde_json::Value = serde_json::from_str(&h.sh("ip -s -j link show flannel.1").unwrap()).unwrap();
    v[0]["stats64"]["rx"]["packets"].as_u64().unwrap()
}

fn ping(from: &Host, ip: &str) -> bool {
    from.sh(&format!("ping -c 2 -i 0.2 -W 2 {ip}")).is_ok()
}

#[test]
fn open_ports_through_a_real_firewalld_on_three_test_hosts() {
    let tb = Testbed::up(3).expect("booting 3 test hosts (needs root)");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let hosts = tb.hosts();
    for h in hosts {
        // the testbed masks firewalld on every host; these run it
        h.sh("rm -f /etc/systemd/system/firewalld.service && systemctl daemon-reload && systemctl start firewalld")
            .unwrap_or_else(|e| panic!("{}: starting firewalld (scripts/setup installs it): {e}", h.name));
        assert_eq!(h.sh("firewall-cmd --state").unwrap().trim(), "running", "{}", h.name);
    }
    let (h1, h2, h3) = (&hosts[0], &hosts[1], &hosts[2]);
    // etcd03's eth0 sits in a zone of its own: the ports must be opened there
    h3.sh("firewall-cmd --zone=internal --change-interface=eth0 && firewall-cmd --permanent --zone=internal --change-interface=eth0").unwrap();
    // the firewall is really in the way: etcd's peer port is closed
    listen(h1, 2380);
    assert!(!tcp_reaches(h2, h1, 2380), "firewalld lets 2380 through before apply");
    stop_listener(h1, 2380);

    let spec = spec();
    let pki = CertBundle::for_cluster(&spec).unwrap().generate().unwrap();
    let first = rt.block_on(apply(&tb, &spec, &pki));
    // apply's health gate: every member healthy, so the peers met through the firewall
    assert!(first.ok(), "apply: {first:#?}");
    let want: BTreeSet<String> = ["2379/tcp", "2380/tcp", "8472/udp"].map(String::from).into();
    for h in hosts {
        let zone = if h.name == h3.name { "internal" } else { "public" };
        assert_eq!(open_ports(h, zone, false), want, "{}: runtime ports in {zone}", h.name);
        assert_eq!(open_ports(h, zone, true), want, "{}: permanent ports in {zone}", h.name);
        assert_eq!(h.sh("systemctl is-active firewalld").unwrap().trim(), "active", "{}: firewalld left running", h.name);
    }
    assert!(open_ports(h3, "public", false).is_empty(), "etcd03: opened in the default zone, not eth0's");
    // closed behind the tool's back (before any overlay traffic, so no
    // conntrack entry lets it through): vxlan to etcd02 is refused, the
    // next apply reopens exactly that port
    h2.sh("firewall-cmd --remove-port=8472/udp").unwrap();
    assert!(!ping(h1, &docker0(h2)), "vxlan to etcd02 passes with 8472/udp closed");
    let repair = rt.block_on(apply(&tb, &spec, &pki));
    assert!(repair.ok(), "repair: {repair:#?}");
    let changes: Vec<(&String, &str)> = repair.hosts.iter().flat_map(|(n, h)| h.changes.iter().map(move |c| (n, c.what.as_str()))).collect();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].0, "etcd02");
    assert!(changes[0].1.contains("8472/udp") && changes[0].1.contains("firewalld"), "{changes:?}");

    // etcd's client port answers through the firewall, a port nobody opened does not
    assert!(tcp_reaches(h2, h1, 2379), "2379 through the firewall");
    listen(h1, 7777);
    assert!(!tcp_reaches(h2, h1, 7777), "7777 was never opened");
    stop_listener(h1, 7777);
    // node to node over the vxlan overlay (8472/udp through both firewalls)
    for from in hosts {
        for to in hosts.iter().filter(|t| t.name != from.name) {
            let before = vxlan_packets(to);
            assert!(ping(from, &docker0(to)), "{} -> {}'s docker0 over flannel.1", from.name, to.name);
            assert!(vxlan_packets(to) >= before + 2, "{}: flannel.1 received nothing", to.name);
        }
    }

    let again = rt.block_on(apply(&tb, &spec, &pki));
    assert!(again.ok() && again.change_count() == 0, "second apply: {:?}", again.hosts.iter().map(|(n, h)| (n, &h.changes)).collect::<Vec<_>>());
}
