//! `adopt`, then the migration, on the tutorial's cluster built by hand on 3 real test hosts
//! (issue 15; [`k8s_bootstrap_testbed::tutorial`]: cfssl, one shared
//! server.pem, the plaintext listener, no client-cert-auth, the CA key in
//! ~/k8s/etcd-cert on etcd01), with 50 keys written into it.
//!
//! - `adopt` writes a spec that describes the running cluster (names,
//!   addresses, etcd version asked of the binary, data dir, token, ports,
//!   layout, flannel's network read back from etcd) with comments on what
//!   differs from a secure setup, and imports the cluster's CA and its key
//!   (found on etcd01) into pki/ byte for byte; its JSON names the cluster
//!   id and member ids etcd itself reports. No host is changed: every key
//!   is still there, etcd was not restarted.
//! - A second `adopt` does not overwrite the spec without --force.
//! - With the CA key nowhere on the hosts, `adopt` fails saying where it
//!   looked and how to give it, and writes nothing; `--ca-key FILE` then
//!   works, and a key of another CA is refused.
//!
//! Needs root (it boots the testbed) and cfssl; it fails, never skips, without them.

mod common;

use std::path::Path;

use common::{json, kb, text};
use k8s_bootstrap_core::spec::ClusterSpec;
use k8s_bootstrap_testbed::Testbed;
use k8s_bootstrap_testbed::tutorial::{self, ConfigApi, ETCDCTL};

/// `k8s-bootstrap -F ssh_config ARGS --known-hosts ...` in `dir`.
fn run(dir: &Path, tb: &Testbed, args: &[&str]) -> std::process::Output {
    let mut c = kb(dir);
    c.arg("-F").arg(dir.join("ssh_config")).args(args).arg("--known-hosts").arg(tb.known_hosts());
    let out = c.output().unwrap();
    eprintln!("$ k8s-bootstrap {} -> {:?}\n{}{}", args.join(" "), out.status.code(), text(&out.stdout), text(&out.stderr));
    out
}

fn adopt(dir: &Path, tb: &Testbed, extra: &[&str]) -> std::process::Output {
    let mut c = kb(dir);
    c.arg("-F").arg(dir.join("ssh_config")).args(["adopt", "--host", "etcd01=10.77.0.11", "--host", "etcd02=10.77.0.12", "--host", "etcd03=10.77.0.13", "--output", "json", "--known-hosts"]).arg(tb.known_hosts()).args(extra);
    let out = c.output().unwrap();
    eprintln!("$ k8s-bootstrap adopt {extra:?} -> {:?}\n{}{}", out.status.code(), text(&out.stdout), text(&out.stderr));
    out
}

#[test]
fn adopt_then_migrate_the_tutorials_cluster_with_flannels_config_in_v3() {
    adopt_then_migrate(ConfigApi::V3);
}

/// The tutorial's own way (flannel 0.11 reads its config through the v2
/// API): the config is read back from etcd's v2 store, the spec gets the
/// flannel release that reads it there, and the migrated etcd still
/// serves it over v2.
#[test]
fn adopt_then_migrate_the_tutorials_cluster_with_flannels_config_in_v2() {
    adopt_then_migrate(ConfigApi::V2);
}

fn adopt_then_migrate(api: ConfigApi) {
    assert!(k8s_bootstrap_core::tools::on_path("cfssl") && k8s_bootstrap_core::tools::on_path("cfssljson"), "cfssl and cfssljson are needed (Debian golang-cfssl; scripts/setup installs it)");
    let tb = Testbed::up(3).expect("booting 3 test hosts (needs root, see k8s-bootstrap-testbed docs)");
    let h = tb.hosts().to_vec();
    let certs = tutorial::build_etcd(&h, api).expect("the tutorial's cluster, by hand");
    let e1 = format!("{ETCDCTL} --endpoints=https://{}:2379", h[0].ip);
    // flanneld (the real one, v3) and docker by flannel.sh, on the v3 cluster
    let overlay = api == ConfigApi::V3;
    if overlay {
        tutorial::build_nodes(&h).expect("flannel.sh and docker, by hand");
    }
    let leases = || h[0].sh(&format!("{e1} get /coreos.com/network/subnets --prefix --keys-only | grep subnets")).unwrap_or_default();
    let docker0 = |x: &k8s_bootstrap_testbed::Host| x.sh("ip -4 -o addr show docker0 | awk '{print $4}'").unwrap().trim().to_string();
    let leases_before = leases();
    let docker0_before: Vec<String> = if overlay { h.iter().map(docker0).collect() } else { Vec::new() };
    if overlay {
        assert_eq!(leases_before.lines().count(), 3, "{leases_before}");
    }
    h[0].sh(&format!("for i in $(seq 1 50); do {e1} put tutorial-key-$i value-$i >/dev/null; done")).unwrap();
    let pids: Vec<String> = h.iter().map(|x| x.sh("systemctl show -P MainPID etcd").unwrap()).collect();
    let listed: serde_json::Value = serde_json::from_str(&h[0].sh(&format!("{e1} -w json member list")).unwrap()).unwrap();

    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(dir.join("ssh_config"), format!("Host 10.77.0.*\n  User root\n  IdentityFile {}\n", tb.client_key().display())).unwrap();
    let out = adopt(dir, &tb, &[]);
    assert!(out.status.success(), "adopt");
    let report = json(&out);
    assert_eq!(report["cluster_id"], format!("{:x}", listed["header"]["cluster_id"].as_u64().unwrap()));
    for m in listed["members"].as_array().unwrap() {
        assert_eq!(report["member_ids"][m["name"].as_str().unwrap()], format!("{:x}", m["ID"].as_u64().unwrap()), "{m}");
    }
    assert_eq!(report["ca_key_from"], "etcd01:/root/k8s/etcd-cert/ca-key.pem");
    let insecure = report["insecure"].to_string();
    for what in ["etcd listens in plaintext, with no authentication, on http://127.0.0.1:2379", "no client-cert-auth", "no peer-client-cert-auth", "/opt/etcd/ssl/server.pem is its server, peer and client certificate"] {
        assert!(insecure.contains(what), "{what}: {insecure}");
    }
    let yaml = std::fs::read_to_string(dir.join("cluster.yaml")).unwrap();
    assert!(yaml.starts_with("# Written by `k8s-bootstrap adopt`") && yaml.contains("etcd listens in plaintext"), "{yaml}");
    let spec = ClusterSpec::from_yaml_str(&yaml).unwrap();
    let version = h[0].sh("/opt/etcd/bin/etcd --version | head -n1").unwrap();
    assert!(version.contains(&spec.versions.etcd.to_string()), "{version} vs {}", spec.versions.etcd);
    assert_eq!(spec.hosts.iter().map(|x| (x.name.clone(), x.address.to_string())).collect::<Vec<_>>(), [("etcd01".to_string(), "10.77.0.11".to_string()), ("etcd02".into(), "10.77.0.12".into()), ("etcd03".into(), "10.77.0.13".into())]);
    // where systemd says the unit is (Debian's merged /usr: /lib/systemd/system)
    let fragment = h[0].sh("systemctl show -P FragmentPath etcd").unwrap();
    let unit_dir = fragment.trim().rsplit_once('/').unwrap().0.to_string();
    assert_eq!((spec.etcd.data_dir.as_str(), spec.etcd.token.as_str(), spec.layout.etcd_dir.as_str(), spec.layout.systemd_dir.clone()), ("/var/lib/etcd/default.etcd", "etcd-cluster", "/opt/etcd", unit_dir));
    assert_eq!(spec.network.pod_cidr.to_string(), "172.17.0.0/16", "the network read back from etcd");
    assert_eq!(spec.needs_etcd_v2(), api == ConfigApi::V2, "flannel {} for a config in {api:?}", spec.versions.flannel);
    for f in ["ca.pem", "ca-key.pem"] {
        assert_eq!(std::fs::read(dir.join("pki").join(f)).unwrap(), std::fs::read(certs.path().join(f)).unwrap(), "pki/{f} is not the cluster's");
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(dir.join("pki/ca-key.pem")).unwrap().permissions()) & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!text(&out.stdout).contains("PRIVATE KEY") && !text(&out.stderr).contains("PRIVATE KEY"));
    // nothing changed on the hosts
    assert_eq!(h.iter().map(|x| x.sh("systemctl show -P MainPID etcd").unwrap()).collect::<Vec<_>>(), pids, "etcd was restarted");
    assert_eq!(h[2].sh(&format!("{ETCDCTL} --endpoints=https://{}:2379 get tutorial-key- --prefix --keys-only | grep -c tutorial-key-", h[2].ip)).unwrap().trim(), "50");

    // never over an existing spec without --force
    let again = adopt(dir, &tb, &[]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("exists: not overwriting it without --force"), "{}", text(&again.stderr));
    assert_eq!(std::fs::read_to_string(dir.join("cluster.yaml")).unwrap(), yaml);

    // the CA key on no host: refused, nothing written; then given by hand
    h[0].sh("mv /root/k8s/etcd-cert/ca-key.pem /root/ca-key.moved").unwrap();
    let other = tempfile::tempdir().unwrap();
    let od = other.path();
    std::fs::copy(dir.join("ssh_config"), od.join("ssh_config")).unwrap();
    let out = adopt(od, &tb, &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("the CA key was not found") && err.contains("/root/k8s/etcd-cert/ca-key.pem") && err.contains("--ca-key FILE"), "{err}");
    assert!(!od.join("cluster.yaml").exists() && !od.join("pki").exists(), "a failed adopt wrote something");
    let wrong = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("sh").arg("-c").arg("cfssl gencert -initca ca-csr.json | cfssljson -bare other -").current_dir(certs.path()).status().unwrap();
    assert!(status.success());
    std::fs::copy(certs.path().join("other-key.pem"), wrong.path().join("k.pem")).unwrap();
    let out = adopt(od, &tb, &["--ca-key", &wrong.path().join("k.pem").to_string_lossy()]);
    assert!(!out.status.success() && text(&out.stderr).contains("this key does not belong to the CA certificate /opt/etcd/ssl/ca.pem"), "{}", text(&out.stderr));
    let out = adopt(od, &tb, &["--ca-key", &certs.path().join("ca-key.pem").to_string_lossy()]);
    assert!(out.status.success());
    assert_eq!(std::fs::read(od.join("pki/ca-key.pem")).unwrap(), std::fs::read(certs.path().join("ca-key.pem")).unwrap());

    // The migration. Test hosts share the machine's clock and swap: host
    // prep leaves both alone, as in every test spec (the only edit).
    let adopted = std::fs::read_to_string(dir.join("cluster.yaml")).unwrap();
    let edited = adopted.replace("  time_sync: ", "  time_sync: leave\n  # adopted: ").replace("  swap_off: true", "  swap_off: false");
    assert_ne!(edited, adopted);
    std::fs::write(dir.join("cluster.yaml"), edited).unwrap();
    let plan = run(dir, &tb, &["plan", "--output", "json"]);
    assert!(plan.status.success(), "plan on the adopted spec");
    let p = json(&plan);
    assert!(p["preflight"].as_array().unwrap().is_empty(), "preflight: {}", p["preflight"]);
    for (i, m) in ["etcd01", "etcd02", "etcd03"].iter().enumerate() {
        let what: Vec<String> = p["hosts"][m]["changes"].as_array().unwrap().iter().map(|c| c["what"].as_str().unwrap().to_string()).collect();
        for step in [format!("write /opt/etcd/ssl/{m}-server.pem (created)"), format!("write /opt/etcd/ssl/{m}-peer.pem (created)"), "write /opt/etcd/cfg/etcd (updated)".into(), format!("restart etcd (/opt/etcd/ssl/{m}-server.pem changed)")] {
            assert!(what.contains(&step), "{m}: no {step:?} in the migration: {what:?}");
        }
        let notes = p["hosts"][m]["notes"].to_string();
        assert!(notes.contains("adopting the etcd set up by hand here"), "{m}: {notes}");
        let _ = i;
    }
    let applied = run(dir, &tb, &["apply", "--output", "json"]);
    assert!(applied.status.success(), "apply of the migration");
    let after: serde_json::Value = serde_json::from_str(&h[1].sh(&format!("{ETCDCTL} --endpoints=https://{}:2379 -w json member list", h[1].ip)).unwrap()).unwrap();
    assert_eq!(after["header"]["cluster_id"], listed["header"]["cluster_id"], "the cluster id changed");
    let ids = |v: &serde_json::Value| -> Vec<u64> {
        let mut ids: Vec<u64> = v["members"].as_array().unwrap().iter().map(|m| m["ID"].as_u64().unwrap()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&after), ids(&listed), "member ids changed");
    for x in &h {
        let ip = x.ip;
        // every key written before, through the old shared certificate (a client the old CA trusts keeps working)
        assert_eq!(x.sh(&format!("{ETCDCTL} --endpoints=https://{ip}:2379 get tutorial-key- --prefix --keys-only | grep -c tutorial-key-")).unwrap().trim(), "50", "{}", x.name);
        // a client without a certificate is refused
        let bare = x.exec(&["sh", "-c", &format!("ETCDCTL_API=3 timeout 20 /opt/etcd/bin/etcdctl --cacert=/opt/etcd/ssl/ca.pem --endpoints=https://{ip}:2379 --dial-timeout=3s --command-timeout=5s get tutorial-key-1")]).unwrap();
        assert!(!bare.status.success(), "{}: a client without a certificate was served", x.name);
        // nothing answers in plaintext
        let plain = x.exec(&["sh", "-c", "ETCDCTL_API=3 timeout 20 /opt/etcd/bin/etcdctl --endpoints=http://127.0.0.1:2379 --dial-timeout=3s --command-timeout=5s get tutorial-key-1"]).unwrap();
        assert!(!plain.status.success(), "{}: etcd still answers in plaintext", x.name);
        let env = x.sh("cat /opt/etcd/cfg/etcd").unwrap();
        assert!(env.contains("ETCD_CLIENT_CERT_AUTH=\"true\"") && env.contains("ETCD_PEER_CLIENT_CERT_AUTH=\"true\"") && !env.contains("http://"), "{}: {env}", x.name);
    }
    let config = match api {
        ConfigApi::V3 => h[0].sh(&format!("{e1} get --print-value-only /coreos.com/network/config")).unwrap(),
        ConfigApi::V2 => h[0].sh("ETCDCTL_API=2 /opt/etcd/bin/etcdctl --ca-file=/opt/etcd/ssl/ca.pem --cert-file=/opt/etcd/ssl/server.pem --key-file=/opt/etcd/ssl/server-key.pem --endpoints=https://10.77.0.11:2379 get /coreos.com/network/config").unwrap(),
    };
    let config: serde_json::Value = serde_json::from_str(config.trim()).unwrap();
    assert_eq!(config["Network"], "172.17.0.0/16", "flannel's config after the migration ({api:?}): {config}");
    if overlay {
        // flannel's leases kept: the same subnet per host, docker0 on it,
        // now from our flanneld and docker units (no mk-docker-opts.sh
        // over subnet.env, which holds flannel's lease again)
        assert_eq!(leases(), leases_before, "flannel's leases changed");
        for (x, before) in h.iter().zip(&docker0_before) {
            assert_eq!(&docker0(x), before, "{}: docker0 moved", x.name);
            assert_eq!(x.sh("systemctl is-active flanneld docker").unwrap().trim(), "active\nactive", "{}", x.name);
            assert!(!x.sh("systemctl cat flanneld").unwrap().contains("mk-docker-opts"), "{}: still the tutorial's flanneld unit", x.name);
            assert!(x.sh("cat /run/flannel/subnet.env").unwrap().contains("FLANNEL_SUBNET="), "{}: subnet.env without flannel's lease", x.name);
        }
        // the overlay carries traffic: each host reaches the others' docker0
        for x in &h {
            for (y, gw) in h.iter().zip(&docker0_before) {
                if x.name != y.name {
                    let ip = gw.split('/').next().unwrap();
                    assert!(x.sh(&format!("ping -c 2 -i 0.2 -W 2 {ip}")).is_ok(), "{} cannot reach {}'s docker0 {ip} over the overlay", x.name, y.name);
                }
            }
        }
    }
    let again = run(dir, &tb, &["apply", "--output", "json"]);
    assert!(again.status.success());
    assert_eq!(common::changes(&again), 0, "the apply after the migration changed something");
    drop(work);
    tb.down().expect("teardown");
}
