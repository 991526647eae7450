//! flannel's overlay for real (issue 16): the real flanneld (built by
//! scripts/setup from its Go module) on 3 test hosts, applied from the
//! testbed spec. Every expected value comes from a real component: the
//! lease each flanneld took in etcd, the device the kernel shows, the file
//! flanneld wrote. Then a "pod" on each host (a network namespace with a
//! veth on docker0, an address of that host's subnet) reaches the pods on
//! the two other hosts by ping and by a TCP echo, and the traffic crosses
//! the vxlan device (`flannel.<VNI>`). A flanneld restart keeps its lease. The same with host-gw;
//! `reset --purge` of a node releases its lease.
//!
//! Needs root and scripts/setup (flanneld, ping, socat); fails, never skips.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_bootstrap_core::apply::{ApplyOptions, Engine, Report};
use k8s_bootstrap_core::flannel::Backend;
use k8s_bootstrap_core::pki::{CertBundle, Issued};
use k8s_bootstrap_core::spec::ClusterSpec;
use k8s_bootstrap_testbed::{Host, Testbed, binaries};
use serde_json::Value;

fn spec(backend: Backend) -> ClusterSpec {
    let mut spec = binaries::testbed_spec().expect("the testbed spec and the binaries of scripts/setup");
    spec.network.backend = backend;
    spec
}

async fn engine(tb: &Testbed, spec: &ClusterSpec, pki: &Issued) -> Engine {
    Engine::new(spec, pki, tb.transports(spec).await).expect("engine")
}

async fn apply(tb: &Testbed, spec: &ClusterSpec, pki: &Issued) -> Report {
    engine(tb, spec, pki).await.apply(&ApplyOptions::default()).await
}

fn json(h: &Host, script: &str) -> Value {
    let out = h.sh(script).unwrap_or_else(|e| panic!("{}: {script}: {e}", h.name));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{}: {script}: not JSON ({e}): {out}", h.name))
}

/// The leases in etcd, read through the v3 API on a member: subnet -> PublicIP, backend.
fn leases(member: &Host, prefix: &str) -> BTreeMap<String, (String, String, Value)> {
    let b64 = data_encoding::BASE64;
    let v = json(member, &format!("/opt/etcd/bin/etcdctl-admin -w json get --prefix {prefix}/subnets/"));
    let mut out = BTreeMap::new();
    for kv in v["kvs"].as_array().cloned().unwrap_or_default() {
        let key = String::from_utf8(b64.decode(kv["key"].as_str().unwrap().as_bytes()).unwrap()).unwrap();
        let val: Value = serde_json::from_slice(&b64.decode(kv["value"].as_str().unwrap().as_bytes()).unwrap()).unwrap();
        let subnet = key.rsplit('/').next().unwrap().replace('-', "/");
        out.insert(subnet, (val["PublicIP"].as_str().unwrap().to_string(), val["BackendType"].as_str().unwrap().to_string(), val["BackendData"].clone()));
    }
    out
}

/// flanneld's subnet.env as a map.
fn subnet_env(h: &Host) -> BTreeMap<String, String> {
    h.sh("cat /run/flannel/subnet.env")
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `10.244.7.1/24` -> `10.244.7.0/24`
fn network_of(gateway: &str) -> String {
    let (ip, len) = gateway.split_once('/').unwrap();
    let mut o: Vec<u8> = ip.split('.').map(|x| x.parse().unwrap()).collect();
    let len: u32 = len.parse().unwrap();
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    let n = u32::from_be_bytes([o[0], o[1], o[2], o[3]]) & mask;
    o = n.to_be_bytes().to_vec();
    format!("{}.{}.{}.{}/{len}", o[0], o[1], o[2], o[3])
}

/// The pod's address: `.10` of the host's subnet.
fn pod_ip(gateway: &str) -> String {
    let ip = gateway.split_once('/').unwrap().0;
    let (head, _) = ip.rsplit_once('.').unwrap();
    format!("{head}.10")
}

/// A network namespace `pod` inside the host, with a veth on docker0 and
/// the address `.10` of the host's subnet, default route via docker0, and
/// a TCP echo server (socat) on port 7777.
fn start_pod(h: &Host, gateway: &str, mtu: &str) {
    let (_, len) = gateway.split_once('/').unwrap();
    let gw = gateway.split_once('/').unwrap().0;
    let ip = pod_ip(gateway);
    h.sh(&format!(
        "set -e; ip netns del pod 2>/dev/null || true; ip link del vethpod 2>/dev/null || true
         ip netns add pod
         ip link add vethpod type veth peer name eth0 netns pod
         ip link set vethpod master docker0 up
         ip -n pod addr add {ip}/{len} dev eth0
         ip -n pod link set eth0 mtu {mtu} up; ip -n pod link set lo up
         ip -n pod route add default via {gw}
         ip netns exec pod setsid socat TCP-LISTEN:7777,fork,reuseaddr EXEC:cat </dev/null >/dev/null 2>&1 &"
    ))
    .unwrap_or_else(|e| panic!("{}: pod: {e}", h.name));
}

fn stop_pod(h: &Host) {
    let _ = h.sh("ip netns pids pod 2>/dev/null | xargs -r kill; ip netns del pod 2>/dev/null; ip link del vethpod 2>/dev/null; true");
}

fn counters(h: &Host, dev: &str) -> (u64, u64) {
    let v = json(h, &format!("ip -s -j link show {dev}"));
    let s = &v[0]["stats64"];
    (s["tx"]["packets"].as_u64().unwrap(), s["rx"]["packets"].as_u64().unwrap())
}

/// Pings and echoes from each pod to the other two; each check is bounded.
fn pods_reach_each_other(tb: &Testbed, gateways: &BTreeMap<String, String>) {
    for from in tb.hosts() {
        for to in tb.hosts().iter().filter(|t| t.name != from.name) {
            let target = pod_ip(&gateways[&to.name]);
            let ping = from.sh(&format!("ip netns exec pod ping -c 3 -i 0.2 -W 2 {target}"));
            assert!(ping.is_ok(), "{} -> {} ({target}): ping failed: {ping:?}", from.name, to.name);
            let word = format!("hello-from-{}-to-{}", from.name, to.name);
            let echo = from
                .sh(&format!("echo {word} | ip netns exec pod timeout 10 socat -T 5 - TCP:{target}:7777"))
                .unwrap_or_else(|e| panic!("{} -> {} ({target}): TCP echo failed: {e}", from.name, to.name));
            assert_eq!(echo.trim(), word, "{} -> {}: the echo", from.name, to.name);
        }
    }
}

fn wait_for_leases(member: &Host, prefix: &str, n: usize) -> BTreeMap<String, (String, String, Value)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let l = leases(member, prefix);
        if l.len() >= n || Instant::now() > deadline {
            return l;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn check_overlay(tb: &Testbed, spec: &ClusterSpec) -> BTreeMap<String, String> {
    let prefix = &spec.network.etcd_prefix;
    let leases = wait_for_leases(&tb.hosts()[0], prefix, 3);
    println!("leases in etcd (v3 API) under {prefix}/subnets/:");
    for (subnet, (ip, backend, data)) in &leases {
        println!("  {subnet} -> {ip} {backend} {data}");
    }
    assert_eq!(leases.len(), 3, "one lease per flanneld: {leases:?}");
    let v2 = tb.hosts()[0].sh(&format!("ETCDCTL_API=2 /opt/etcd/bin/etcdctl-admin-v2 ls {prefix}/subnets 2>&1 || true")).unwrap_or_default();
    assert!(!v2.contains("/subnets/"), "flannel >= 0.18 leases through v3 only, v2 shows: {v2}");
    let mut gateways = BTreeMap::new();
    let network = spec.network.pod_cidr.to_string();
    for h in tb.hosts() {
        let env = subnet_env(h);
        // subnet.env is flanneld's own: its network, the lease it holds, its MTU
        assert_eq!(env.get("FLANNEL_NETWORK"), Some(&network), "{}: {env:?}", h.name);
        let gw = env.get("FLANNEL_SUBNET").cloned().unwrap_or_else(|| panic!("{}: no FLANNEL_SUBNET: {env:?}", h.name));
        let (lease_ip, backend, data) = leases.get(&network_of(&gw)).unwrap_or_else(|| panic!("{}: {gw} is not a lease in etcd: {leases:?}", h.name));
        assert_eq!(lease_ip, &h.ip.to_string(), "{}: the lease of {gw} belongs to {lease_ip}", h.name);
        assert_eq!(env.get("FLANNEL_IPMASQ").map(String::as_str), Some(if spec.network.ip_masq { "true" } else { "false" }));
        let eth0_mtu = json(h, "ip -j link show eth0")[0]["mtu"].as_u64().unwrap();
        let mtu: u64 = env["FLANNEL_MTU"].parse().unwrap();
        match &spec.network.backend {
            Backend::Vxlan { vni, port, .. } => {
                assert_eq!(backend, "vxlan");
                let vni = *vni;
                // flanneld names the device after its VNI: flannel.1 for VNI 1
                let link = &json(h, &format!("ip -d -j link show flannel.{vni}"))[0];
                let info = &link["linkinfo"];
                assert_eq!(info["info_kind"], "vxlan", "{}: flannel.{vni} {link}", h.name);
                assert_eq!(info["info_data"]["id"].as_u64(), Some(u64::from(vni)), "{}: VNI", h.name);
                assert_eq!(info["info_data"]["port"].as_u64(), Some(u64::from(*port)), "{}: UDP port", h.name);
                assert_eq!(data["VNI"].as_u64(), Some(u64::from(vni)), "the lease's VNI");
                // vxlan over IPv4 costs 50 bytes
                assert_eq!(link["mtu"].as_u64(), Some(eth0_mtu - 50), "{}: flannel.{vni} MTU", h.name);
                assert_eq!(mtu, eth0_mtu - 50, "{}: FLANNEL_MTU", h.name);
            }
            Backend::HostGw => {
                assert_eq!(backend, "host-gw");
                assert_eq!(mtu, eth0_mtu, "{}: host-gw keeps the link MTU", h.name);
                assert!(!h.sh("ip -o link show type vxlan").unwrap().contains("flannel."), "{}: no vxlan device with host-gw", h.name);
            }
            other => panic!("backend {other:?} not covered"),
        }
        // docker0 carries the leased subnet
        let addrs = json(h, "ip -j addr show docker0");
        let a = addrs[0]["addr_info"].as_array().unwrap().iter().find(|a| a["family"] == "inet").expect("docker0 has an IPv4 address");
        assert_eq!(format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]), gw, "{}: docker0", h.name);
        // dockerd took flannel's MTU for its containers (the bridge's own
        // MTU follows the ports attached to it)
        let opts = json(h, "docker network inspect bridge --format '{{json .Options}}'");
        assert_eq!(opts["com.docker.network.driver.mtu"].as_str(), Some(mtu.to_string().as_str()), "{}: docker's MTU: {opts}", h.name);
        gateways.insert(h.name.clone(), gw);
    }
    gateways
}

#[test]
fn real_flanneld_overlay_on_three_test_hosts() {
    let tb = Testbed::up(3).expect("booting 3 test hosts (needs root)");
    let rt = tokio::runtime::Runtime::new().unwrap();
    // VNI and port other than flannel's defaults: the device must carry the spec's
    let vxlan = spec(Backend::Vxlan { vni: 7, port: 8473, direct_routing: false });
    let flanneld = binaries::flanneld().unwrap();
    println!("flanneld: {} ({})", flanneld.display(), vxlan.versions.flannel);
    let pki = CertBundle::for_cluster(&vxlan).unwrap().generate().unwrap();

    let first = rt.block_on(apply(&tb, &vxlan, &pki));
    assert!(first.ok(), "apply: {first:#?}");
    let gateways = check_overlay(&tb, &vxlan);
    let gws: std::collections::BTreeSet<_> = gateways.values().collect();
    assert_eq!(gws.len(), 3, "three different subnets: {gateways:?}");
    for h in tb.hosts() {
        start_pod(h, &gateways[&h.name], &subnet_env(h)["FLANNEL_MTU"]);
    }
    let before: Vec<_> = tb.hosts().iter().map(|h| counters(h, "flannel.7")).collect();
    pods_reach_each_other(&tb, &gateways);
    for (h, (tx0, rx0)) in tb.hosts().iter().zip(before) {
        let (tx, rx) = counters(h, "flannel.7");
        // 2 peers x (3 pings + a TCP exchange): well over 6 packets each way
        assert!(tx >= tx0 + 6 && rx >= rx0 + 6, "{}: flannel.7 tx {tx0}->{tx}, rx {rx0}->{rx}", h.name);
    }

    // A restart of flanneld keeps its lease: it reads subnet.env back.
    let h2 = &tb.hosts()[1];
    h2.sh("systemctl restart flanneld").unwrap();
    assert_eq!(subnet_env(h2).get("FLANNEL_SUBNET"), Some(&gateways[&h2.name]), "same subnet after a restart");
    // docker requires flanneld: systemd restarts it too, as a job of its
    // own. An apply while it is still starting would rightly start it
    // (not running); the test waits for the host to settle first.
    let start = std::time::Instant::now();
    while h2.sh("systemctl is-active docker || true").unwrap().trim() != "active" {
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "docker never came back after flanneld's restart");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(leases(&tb.hosts()[0], &vxlan.network.etcd_prefix).len(), 3);
    // a second apply changes nothing
    let again = rt.block_on(apply(&tb, &vxlan, &pki));
    assert!(again.ok() && again.change_count() == 0, "second apply: {:?}", again.hosts.iter().map(|(n, h)| (n, &h.changes)).collect::<Vec<_>>());
    pods_reach_each_other(&tb, &gateways);
    for h in tb.hosts() {
        stop_pod(h);
    }

    // host-gw: the same cluster with the other backend. flanneld is told
    // through its config in etcd; the old leases are dropped so that each
    // flanneld leases again with the new backend.
    let hostgw = spec(Backend::HostGw);
    let m = &tb.hosts()[0];
    for h in tb.hosts() {
        h.sh("systemctl stop docker flanneld; ip link del flannel.7 2>/dev/null; rm -f /run/flannel/subnet.env; true").unwrap();
    }
    m.sh(&format!("/opt/etcd/bin/etcdctl-admin del --prefix {}/subnets/", hostgw.network.etcd_prefix)).unwrap();
    let switched = rt.block_on(apply(&tb, &hostgw, &pki));
    assert!(switched.ok(), "apply host-gw: {switched:#?}");
    let gateways = check_overlay(&tb, &hostgw);
    for h in tb.hosts() {
        start_pod(h, &gateways[&h.name], &subnet_env(h)["FLANNEL_MTU"]);
        // host-gw: a route to each other host's subnet via that host's address
        let routes = h.sh("ip -4 route show").unwrap();
        for other in tb.hosts().iter().filter(|o| o.name != h.name) {
            let want = format!("{} via {} dev eth0", network_of(&gateways[&other.name]), other.ip);
            assert!(routes.contains(&want), "{}: no route `{want}` in:\n{routes}", h.name);
        }
    }
    let before: Vec<_> = tb.hosts().iter().map(|h| counters(h, "eth0")).collect();
    pods_reach_each_other(&tb, &gateways);
    for (h, (tx0, _)) in tb.hosts().iter().zip(before) {
        assert!(counters(h, "eth0").0 >= tx0 + 6, "{}: pod traffic leaves by eth0", h.name);
    }
    for h in tb.hosts() {
        stop_pod(h);
    }

    // `reset --purge` of one node gives its lease back; the others keep theirs.
    let only = ["etcd03".to_string()];
    let opts = ApplyOptions::default().limit(&hostgw, Some(&only[..]), None).expect("only etcd03");
    let reset = rt.block_on(async { engine(&tb, &hostgw, &pki).await.reset(&opts, true).await });
    assert!(reset.ok(), "reset: {reset:#?}");
    let released = network_of(&gateways["kbtb3"]).replace('/', "-");
    assert!(
        reset.hosts["etcd03"].changes.iter().any(|c| c.what.contains("release flannel's lease") && c.what.contains(&released)),
        "{:?}",
        reset.hosts["etcd03"].changes
    );
    let left = leases(&tb.hosts()[0], &hostgw.network.etcd_prefix);
    assert_eq!(left.len(), 2, "etcd03's lease is gone, the others stay: {left:?}");
    assert!(!left.contains_key(&network_of(&gateways["kbtb3"])));
}
