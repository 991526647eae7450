//! The tutorial's cluster, built by hand on test hosts as its reader
//! builds it (`shared/seed/k8s-binary-deployment-tutorial.md`): cfssl 1.2
//! with its `ca-config.json`, `ca-csr.json` and `server-csr.json`; one
//! `server.pem` for every member, peer and client; `/opt/etcd/{cfg,bin,ssl}`;
//! the env file of its `etcd.sh` on etcd01, copied to the others with the
//! name and the four URLs edited by hand; its etcd unit in
//! `/usr/lib/systemd/system`; the CA key left in `~/k8s/etcd-cert` on
//! etcd01, where `etcd-cert.sh` ran; flannel's network config written by
//! hand into etcd.
//!
//! Adjusted only where etcd 3.4 (the machine's) refuses the tutorial's
//! files, itself one of the tutorial's documented bugs: etcd 3.4 exits
//! when a setting is both an `ETCD_*` variable and a flag, so `ExecStart`
//! keeps only the flags that are not in the env file (the certificate
//! paths), and the plaintext `http://127.0.0.1:2379` listener moves from
//! the flag into `ETCD_LISTEN_CLIENT_URLS`; and etcd 3.4 serves the v2 API
//! only with `ETCD_ENABLE_V2="true"` (3.3 did by default), which the v2
//! variant sets. Everything else is the tutorial's, bugs included.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::{Error, Host, Result};

/// Which etcd API the network config is written through by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigApi {
    /// `etcdctl set` (v2), as the tutorial does for flannel 0.11.
    V2,
    /// `etcdctl put` (v3), as for flannel 0.18 and later.
    V3,
}

/// The network config the tutorial writes.
pub const NETWORK_CONFIG: &str = r#"{"Network": "172.17.0.0/16", "Backend": {"Type": "vxlan"}}"#;

/// `etcdctl` (v3) on a member with the tutorial's shared certificate.
pub const ETCDCTL: &str = "ETCDCTL_API=3 /opt/etcd/bin/etcdctl --cacert=/opt/etcd/ssl/ca.pem --cert=/opt/etcd/ssl/server.pem --key=/opt/etcd/ssl/server-key.pem --dial-timeout=3s --command-timeout=10s";

fn write(h: &Host, path: &str, text: &str, mode: u32) -> Result<()> {
    let p = h.root.join(path.trim_start_matches('/'));
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(|source| Error::Io { context: format!("{}: mkdir {}", h.name, d.display()), source })?;
    }
    std::fs::write(&p, text).map_err(|source| Error::Io { context: format!("{}: write {path}", h.name), source })?;
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(mode)).map_err(|source| Error::Io { context: format!("{}: chmod {path}", h.name), source })
}

fn cfssl(dir: &Path, args: &str) -> Result<()> {
    let out = std::process::Command::new("sh").arg("-c").arg(format!("cfssl {args} | cfssljson -bare {}", if args.contains("-initca") { "ca -" } else { "server" })).current_dir(dir).output().map_err(|source| Error::Io { context: "run cfssl".into(), source })?;
    if !out.status.success() {
        return Err(Error::Command { cmd: format!("cfssl {args}"), detail: String::from_utf8_lossy(&out.stderr).into_owned() });
    }
    Ok(())
}

/// Builds the tutorial's etcd cluster on `hosts` (named etcd01.. in
/// order), starts it, waits until every member is healthy (at most 60 s),
/// and writes flannel's network config through `api`. Returns the folder
/// where cfssl ran (its `ca.pem`, `ca-key.pem`, `server.pem`, ...), kept
/// while the value lives.
pub fn build_etcd(hosts: &[Host], api: ConfigApi) -> Result<tempfile::TempDir> {
    let certs = tempfile::tempdir().map_err(|source| Error::Io { context: "temp dir".into(), source })?;
    let d = certs.path();
    let put = |name: &str, text: String| std::fs::write(d.join(name), text).map_err(|source| Error::Io { context: format!("write {name}"), source });
    put("ca-config.json", r#"{"signing": {"default": {"expiry": "87600h"}, "profiles": {"www": {"expiry": "87600h", "usages": ["signing", "key encipherment", "server auth", "client auth"]}}}}"#.into())?;
    put("ca-csr.json", r#"{"CN": "etcd CA", "key": {"algo": "rsa", "size": 2048}, "names": [{"C": "CN", "L": "Beijing", "ST": "Beijing"}]}"#.into())?;
    let ips: Vec<String> = hosts.iter().map(|h| format!("\"{}\"", h.ip)).collect();
    put("server-csr.json", format!(r#"{{"CN": "etcd", "hosts": [{}], "key": {{"algo": "rsa", "size": 2048}}, "names": [{{"C": "CN", "L": "BeiJing", "ST": "BeiJing"}}]}}"#, ips.join(", ")))?;
    cfssl(d, "gencert -initca ca-csr.json")?;
    cfssl(d, "gencert -ca=ca.pem -ca-key=ca-key.pem -config=ca-config.json -profile=www server-csr.json")?;
    let read = |name: &str| std::fs::read_to_string(d.join(name)).map_err(|source| Error::Io { context: format!("read {name}"), source });

    let cluster: Vec<String> = hosts.iter().enumerate().map(|(i, h)| format!("etcd0{}=https://{}:2380", i + 1, h.ip)).collect();
    let v2 = if api == ConfigApi::V2 { "ETCD_ENABLE_V2=\"true\"\n" } else { "" };
    for (i, h) in hosts.iter().enumerate() {
        let (name, ip) = (format!("etcd0{}", i + 1), h.ip);
        h.sh("mkdir -p /opt/etcd/cfg /opt/etcd/bin /opt/etcd/ssl && cp /usr/bin/etcd /usr/bin/etcdctl /opt/etcd/bin/")?;
        for f in ["ca.pem", "server.pem", "server-key.pem"] {
            write(h, &format!("/opt/etcd/ssl/{f}"), &read(f)?, if f.ends_with("-key.pem") { 0o600 } else { 0o644 })?;
        }
        if i == 0 {
            for f in ["ca-config.json", "ca-csr.json", "server-csr.json", "ca.pem", "ca-key.pem", "server.pem", "server-key.pem"] {
                write(h, &format!("/root/k8s/etcd-cert/{f}"), &read(f)?, if f.ends_with("-key.pem") { 0o600 } else { 0o644 })?;
            }
        }
        write(
            h,
            "/opt/etcd/cfg/etcd",
            &format!(
                "#[Member]\nETCD_NAME=\"{name}\"\nETCD_DATA_DIR=\"/var/lib/etcd/default.etcd\"\nETCD_LISTEN_PEER_URLS=\"https://{ip}:2380\"\nETCD_LISTEN_CLIENT_URLS=\"https://{ip}:2379,http://127.0.0.1:2379\"\n{v2}\n#[Clustering]\nETCD_INITIAL_ADVERTISE_PEER_URLS=\"https://{ip}:2380\"\nETCD_ADVERTISE_CLIENT_URLS=\"https://{ip}:2379\"\nETCD_INITIAL_CLUSTER=\"{}\"\nETCD_INITIAL_CLUSTER_TOKEN=\"etcd-cluster\"\nETCD_INITIAL_CLUSTER_STATE=\"new\"\n",
                cluster.join(",")
            ),
            0o644,
        )?;
        write(
            h,
            "/usr/lib/systemd/system/etcd.service",
            "[Unit]\nDescription=Etcd Server\nAfter=network.target\nAfter=network-online.target\nWants=network-online.target\n\n[Service]\nType=notify\nEnvironmentFile=/opt/etcd/cfg/etcd\nExecStart=/opt/etcd/bin/etcd \\\n--cert-file=/opt/etcd/ssl/server.pem \\\n--key-file=/opt/etcd/ssl/server-key.pem \\\n--peer-cert-file=/opt/etcd/ssl/server.pem \\\n--peer-key-file=/opt/etcd/ssl/server-key.pem \\\n--trusted-ca-file=/opt/etcd/ssl/ca.pem \\\n--peer-trusted-ca-file=/opt/etcd/ssl/ca.pem\nRestart=on-failure\nLimitNOFILE=65536\n\n[Install]\nWantedBy=multi-user.target\n",
            0o644,
        )?;
        // a test host masks the machine's etcd.service: the tutorial's reader has none
        h.sh("rm -f /etc/systemd/system/etcd.service && systemctl daemon-reload && systemctl enable etcd 2>/dev/null && systemctl start --no-block etcd")?;
    }
    let start = Instant::now();
    let endpoints: Vec<String> = hosts.iter().map(|h| format!("https://{}:2379", h.ip)).collect();
    loop {
        match hosts[0].sh(&format!("{ETCDCTL} --endpoints={} endpoint health", endpoints.join(","))) {
            Ok(_) => break,
            Err(e) if start.elapsed() > Duration::from_secs(60) => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
    let q = NETWORK_CONFIG.replace('\'', "");
    match api {
        ConfigApi::V3 => hosts[0].sh(&format!("{ETCDCTL} --endpoints=https://{}:2379 put /coreos.com/network/config '{q}'", hosts[0].ip))?,
        // the tutorial's my_etcdctl: v2 flags, all members
        ConfigApi::V2 => hosts[0].sh(&format!(
            "ETCDCTL_API=2 /opt/etcd/bin/etcdctl --ca-file=/opt/etcd/ssl/ca.pem --cert-file=/opt/etcd/ssl/server.pem --key-file=/opt/etcd/ssl/server-key.pem --endpoints={} set /coreos.com/network/config '{q}'",
            endpoints.join(",")
        ))?,
    };
    Ok(certs)
}

/// flannel.sh and docker as the tutorial's reader runs them on `hosts`
/// (after [`build_etcd`] with [`ConfigApi::V3`]: the flanneld that runs
/// here, the one scripts/setup builds, reads its config through v3):
/// flanneld and flannel's `mk-docker-opts.sh` in `/opt/kubernetes/bin`, its
/// `FLANNEL_OPTIONS` with the shared server.pem, its unit with
/// `ExecStartPost=mk-docker-opts.sh ... -d /run/flannel/subnet.env` (over the
/// file flanneld wrote: the tutorial's bug), and docker's unit reading that
/// file; `/etc/docker/daemon.json` with the tutorial's registry mirror.
/// Adjusted to the machine only: test hosts have no default route, so
/// flanneld is told its interface (`-iface=eth0`, as on any host with
/// several); Debian's dockerd is `/usr/sbin/dockerd`,
/// and dockerd in a test host needs the vfs storage driver and a data root
/// of its own (`daemon.json`). Waits (at most 60 s each) until docker0 of
/// every host carries the subnet flannel leased it.
pub fn build_nodes(hosts: &[Host]) -> Result<()> {
    let flanneld = crate::binaries::Manifest::load().and_then(|m| m.flanneld().cloned()).map_err(|e| Error::Invalid(format!("flanneld: {e}")))?;
    let mk = crate::binaries::cache_dir().join("go/mod/github.com/flannel-io").join(format!("flannel@v{}", flanneld.version)).join("dist/mk-docker-opts.sh");
    let mk_text = std::fs::read_to_string(&mk).map_err(|source| Error::Io { context: format!("read {} (scripts/setup builds flanneld from that module)", mk.display()), source })?;
    let endpoints: Vec<String> = hosts.iter().map(|h| format!("https://{}:2379", h.ip)).collect();
    for h in hosts {
        h.sh(&format!("mkdir -p /opt/kubernetes/bin /opt/kubernetes/cfg /opt/kubernetes/ssl && cp {} /opt/kubernetes/bin/flanneld && chmod 755 /opt/kubernetes/bin/flanneld", flanneld.path.display()))?;
        write(h, "/opt/kubernetes/bin/mk-docker-opts.sh", &mk_text, 0o755)?;
        write(
            h,
            "/opt/kubernetes/cfg/flanneld",
            &format!("\nFLANNEL_OPTIONS=\"--etcd-endpoints={} \\\n-etcd-cafile=/opt/etcd/ssl/ca.pem \\\n-etcd-certfile=/opt/etcd/ssl/server.pem \\\n-etcd-keyfile=/opt/etcd/ssl/server-key.pem \\\n-iface=eth0\"\n\n", endpoints.join(",")),
            0o644,
        )?;
        write(
            h,
            "/usr/lib/systemd/system/flanneld.service",
            "[Unit]\nDescription=Flanneld overlay address etcd agent\nAfter=network-online.target network.target\nBefore=docker.service\n\n[Service]\nType=notify\nEnvironmentFile=/opt/kubernetes/cfg/flanneld\nExecStart=/opt/kubernetes/bin/flanneld --ip-masq $FLANNEL_OPTIONS\nExecStartPost=/opt/kubernetes/bin/mk-docker-opts.sh -k DOCKER_NETWORK_OPTIONS -d /run/flannel/subnet.env\nRestart=on-failure\n\n[Install]\nWantedBy=multi-user.target\n\n",
            0o644,
        )?;
        write(
            h,
            "/usr/lib/systemd/system/docker.service",
            "\n[Unit]\nDescription=Docker Application Container Engine\nDocumentation=https://docs.docker.com\nAfter=network-online.target firewalld.service\nWants=network-online.target\n\n[Service]\nType=notify\nEnvironmentFile=/run/flannel/subnet.env\nExecStart=/usr/sbin/dockerd $DOCKER_NETWORK_OPTIONS\nExecReload=/bin/kill -s HUP $MAINPID\nLimitNOFILE=infinity\nLimitNPROC=infinity\nLimitCORE=infinity\nTimeoutStartSec=0\nDelegate=yes\nKillMode=process\nRestart=on-failure\nStartLimitBurst=3\nStartLimitInterval=60s\n\n[Install]\nWantedBy=multi-user.target\n\n",
            0o644,
        )?;
        write(h, "/etc/docker/daemon.json", "{\"registry-mirrors\": [\"http://f1361db2.m.daocloud.io\"], \"storage-driver\": \"vfs\", \"data-root\": \"/var/lib/docker-testbed\"}\n", 0o644)?;
        // the machine's own docker unit (/lib/systemd/system) is the same file on Debian's merged /usr
        h.sh("systemctl daemon-reload && systemctl enable flanneld docker 2>/dev/null && systemctl restart flanneld && systemctl restart docker || { journalctl -u flanneld -u docker -n 40 --no-pager -o cat >&2; exit 1; }")?;
    }
    for h in hosts {
        let start = Instant::now();
        loop {
            let ok = h.sh(". /run/flannel/subnet.env 2>/dev/null; ip -4 -o addr show docker0 2>/dev/null | grep -q \"inet ${DOCKER_OPT_BIP#--bip=}\" && echo ok").unwrap_or_default();
            if ok.trim() == "ok" {
                break;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let state = h.sh("cat /run/flannel/subnet.env; ip -4 -o addr show docker0; systemctl status flanneld docker --no-pager -n 20").unwrap_or_else(|e| e.to_string());
                return Err(Error::Command { cmd: format!("{}: docker0 on flannel's subnet", h.name), detail: state });
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    Ok(())
}
