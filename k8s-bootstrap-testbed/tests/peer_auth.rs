//! Peer and client authentication, negative (issue 14): the testbed's
//! cluster applied by the engine to 3 test hosts (etcd with
//! `client-cert-auth` and `peer-client-cert-auth`), and a 4th, bare test
//! host (kbtb4, 10.77.0.14) as the outsider. With the real etcd and
//! etcdctl (Debian's 3.4, /usr/bin), it shows that:
//!
//! 1. a client without a certificate can neither read nor write, over TLS
//!    on 2379 (even when it skips verifying the server) or in plaintext,
//!    on any member's address or on a member's own loopback, and cannot
//!    read the peer port 2380 either; the cluster's own admin certificate
//!    (the files on the hosts under /opt/etcd/ssl) works from the same host;
//! 2. a client whose certificate comes from ANOTHER CA (a second
//!    `CertBundle` of the same shape: same subjects and names, other
//!    keys) is refused on 2379 and 2380;
//! 3. a would-be peer cannot join: after `member add` done with the admin
//!    certificate, an etcd started on kbtb4 with exactly the settings
//!    that `member add` printed, trusting the cluster's CA, is refused by
//!    the members when it has (a) no certificate, (b) a peer certificate of
//!    another CA, (c) a self-signed one (`--peer-auto-tls`): its log and
//!    the members' journals show the TLS refusal, it exits without data,
//!    `member list` shows it unstarted, and it is removed again. The same
//!    joiner with a peer certificate of the cluster's CA does join and gets
//!    the data: the refusals are the certificates' doing, nothing else.
//!
//! The cluster stays healthy throughout and every key the test wrote is
//! there at the end. Every expected value is what the real etcd does.
//! Every wait is bounded; traffic goes only to 10.77.0.11-14 and loopback;
//! every process started on kbtb4 runs in a transient unit that a guard
//! stops on drop (and the testbed's teardown kills the whole host).
//!
//! Needs root (it boots the testbed); it fails, never skips, without it.

use std::time::{Duration, Instant};

use k8s_bootstrap_core::apply::{ApplyOptions, Engine};
use k8s_bootstrap_core::pki::{CertBundle, EtcdMember};
use k8s_bootstrap_core::spec::ClusterSpec;
use k8s_bootstrap_testbed::{Host, Testbed, binaries};

const MEMBERS: [&str; 3] = ["10.77.0.11", "10.77.0.12", "10.77.0.13"];
const OUTSIDER: &str = "10.77.0.14";
/// The real etcd and etcdctl (Debian's 3.4), as on the machine: a test
/// host's root is an overlay over the machine's.
const ETCD: &str = "/usr/bin/etcd";
const ETCDCTL: &str = "ETCDCTL_API=3 timeout 20 /usr/bin/etcdctl --dial-timeout=3s --command-timeout=5s";

/// Runs `script` on `h` (bounded by `timeout 60`), returns (exit code, stdout + stderr).
fn run(h: &Host, script: &str) -> (i32, String) {
    let out = h.exec(&["timeout", "60", "sh", "-c", script]).unwrap_or_else(|e| panic!("{}: {script}: {e}", h.name));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// Like [`run`], and it must exit 0.
fn ok(h: &Host, script: &str) -> String {
    let (code, out) = run(h, script);
    assert_eq!(code, 0, "{}: `{script}` failed: {out}", h.name);
    out
}

/// Like [`run`], and it must fail; returns its output.
fn refused(h: &Host, script: &str) -> String {
    let (code, out) = run(h, script);
    assert_ne!(code, 0, "{}: `{script}` was served: {out}", h.name);
    out
}

/// Writes `files` (name, bytes) into `dir` on `h`, keys 0600.
fn put_files(h: &Host, dir: &str, files: &[(&str, Vec<u8>)]) {
    ok(h, &format!("mkdir -p {dir} && chmod 700 {dir}"));
    for (name, bytes) in files {
        let path = h.root.join(dir.trim_start_matches('/')).join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {}: {e}", h.name, path.display()));
        ok(h, &format!("chmod 600 {dir}/{name}"));
    }
}

/// The unix time now, as journalctl's `--since @…`.
fn now_epoch(h: &Host) -> String {
    ok(h, "date +%s").trim().to_string()
}

/// The etcd journal of a member since `since`.
fn etcd_journal(h: &Host, since: &str) -> String {
    ok(h, &format!("journalctl -u etcd --no-pager -o cat --since @{since}"))
}

/// A transient unit on a test host, stopped (its processes killed) on drop.
struct Unit {
    host: Host,
    name: String,
}

impl Unit {
    fn start(host: &Host, name: &str, argv: &str) -> Unit {
        let unit = Unit { host: host.clone(), name: name.to_string() };
        ok(host, &format!("systemd-run --unit={name} --property=RuntimeMaxSec=120 --property=KillMode=control-group {argv}"));
        unit
    }

    fn active(&self) -> bool {
        run(&self.host, &format!("systemctl is-active --quiet {}", self.name)).0 == 0
    }

    fn log(&self) -> String {
        ok(&self.host, &format!("journalctl -u {} --no-pager -o cat", self.name))
    }

    /// Waits (bounded) until the unit is no longer running.
    fn wait_exit(&self, limit: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < limit {
            if !self.active() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        false
    }
}

impl Drop for Unit {
    fn drop(&mut self) {
        let _ = self.host.exec(&[
            "sh",
            "-c",
            &format!("systemctl kill -s KILL {n}; systemctl stop {n}; systemctl reset-failed {n}; true", n = self.name),
        ]);
    }
}

/// The admin client on etcd01, through the wrapper the engine installed.
fn admin(h1: &Host, args: &str) -> String {
    ok(h1, &format!("timeout 30 /opt/etcd/bin/etcdctl-admin --dial-timeout=3s --command-timeout=10s {args}"))
}

/// Writes `/peer-auth/STEP` through the admin client and records it.
fn write(h1: &Host, written: &mut Vec<(String, String)>, step: &str) {
    let (k, v) = (format!("/peer-auth/{step}"), format!("value-of-{step}-{}", std::process::id()));
    admin(h1, &format!("put {k} {v}"));
    written.push((k, v));
}

/// Every real member reports healthy (bounded wait).
fn assert_healthy(h1: &Host, when: &str) {
    let t = Instant::now();
    loop {
        let (_, out) = run(h1, "timeout 30 /opt/etcd/bin/etcdctl-admin --dial-timeout=3s --command-timeout=5s endpoint health --cluster 2>&1");
        if MEMBERS.iter().all(|ip| out.lines().any(|l| l.contains(&format!("https://{ip}:2379 is healthy")))) {
            return;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "{when}: the cluster is not healthy: {out}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `member list` as (id, status or name, peer urls) lines.
fn member_list(h1: &Host) -> Vec<(String, String, String)> {
    admin(h1, "member list")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(", ").collect();
            (f.len() >= 4).then(|| (f[0].to_string(), f[2].to_string(), f[3].to_string()))
        })
        .collect()
}

/// `member add etcd04 --peer-urls=URL` with the admin certificate: the
/// new member's id and the `ETCD_INITIAL_CLUSTER` it must start with.
///
/// etcd 3.4 sometimes answers a `member add` that follows a `member remove`
/// with "etcdserver: member not found" although it applied the add (the
/// reply is built from a membership view that lags behind); the member
/// list then shows it. At most 3 attempts, each bounded.
fn add_member(h1: &Host, peer_url: &str) -> (String, String) {
    for attempt in 1..=3 {
        let (code, out) = run(h1, &format!("timeout 30 /opt/etcd/bin/etcdctl-admin --dial-timeout=3s --command-timeout=10s member add etcd04 --peer-urls={peer_url}"));
        let var = |k: &str| out.lines().find_map(|l| l.strip_prefix(&format!("{k}=\"")).and_then(|v| v.strip_suffix('"'))).map(str::to_string);
        if code == 0 {
            let id = out.split_whitespace().nth(1).unwrap_or_else(|| panic!("member add: {out}")).to_string();
            assert_eq!(var("ETCD_INITIAL_CLUSTER_STATE").as_deref(), Some("existing"), "{out}");
            assert_eq!(var("ETCD_INITIAL_ADVERTISE_PEER_URLS").as_deref(), Some(peer_url), "{out}");
            return (id, var("ETCD_INITIAL_CLUSTER").unwrap_or_else(|| panic!("member add: {out}")));
        }
        assert!(out.contains("member not found"), "member add {peer_url}: {out}");
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            let list = member_list(h1);
            if let Some(m) = list.iter().find(|m| m.2 == peer_url) {
                eprintln!("member add {peer_url}: etcd said `member not found` but added {} (attempt {attempt})", m.0);
                let ic: Vec<String> = list.iter().map(|m| format!("{}={}", if m.1.is_empty() { "etcd04" } else { &m.1 }, m.2)).collect();
                return (m.0.clone(), ic.join(","));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        eprintln!("member add {peer_url}: `member not found` and not added (attempt {attempt}), again");
    }
    panic!("member add {peer_url}: not added after 3 attempts");
}

/// The testbed spec with a 4th etcd member at the outsider's address:
/// only used to issue certificates for that address.
fn spec_with_outsider(base: &ClusterSpec) -> ClusterSpec {
    let mut s = base.clone();
    let mut h = s.hosts[2].clone();
    h.name = "etcd04".into();
    h.address = OUTSIDER.parse().unwrap();
    s.hosts.push(h);
    s
}

#[test]
fn without_the_clusters_ca_no_client_reads_and_no_peer_joins() {
    let started = Instant::now();
    let tb = Testbed::up(4).expect("booting 4 test hosts (needs root, see k8s-bootstrap-testbed docs)");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let spec = binaries::testbed_spec().expect("the testbed spec and the binaries of scripts/setup");
    let pki = CertBundle::for_cluster(&spec).unwrap().generate().unwrap();
    let r = rt.block_on(async { Engine::new(&spec, &pki, tb.transports(&spec).await).expect("engine").apply(&ApplyOptions::default()).await });
    assert!(r.ok(), "apply failed: {r:#?}");
    eprintln!("cluster applied in {} ms", r.elapsed_ms);

    let hosts = tb.hosts();
    let member = |ip: &str| hosts.iter().find(|h| h.ip.to_string() == ip).expect("test host").clone();
    let (h1, out) = (member(MEMBERS[0]), member(OUTSIDER));
    assert_eq!(run(&out, "systemctl is-active etcd").1.trim(), "inactive", "the outsider runs no etcd");
    assert_healthy(&h1, "after apply");

    // Keys written through the admin client, checked at the end.
    let mut written: Vec<(String, String)> = Vec::new();
    write(&h1, &mut written, "before");

    // --- certificates on the outsider: the cluster's own, copied from
    // etcd01's /opt/etcd/ssl (the CA certificate is public; the admin and
    // peer certificates are the positive controls), and a second bundle of
    // the same shape from another CA.
    let real: Vec<(&str, Vec<u8>)> = ["ca.pem", "admin.pem", "admin-key.pem", "etcd01-peer.pem", "etcd01-peer-key.pem"]
        .into_iter()
        .map(|f| (f, std::fs::read(h1.root.join("opt/etcd/ssl").join(f)).unwrap_or_else(|e| panic!("etcd01:/opt/etcd/ssl/{f}: {e}"))))
        .collect();
    let flannel: Vec<(&str, Vec<u8>)> = ["flanneld.pem", "flanneld-key.pem"]
        .into_iter()
        .map(|f| (f, std::fs::read(h1.root.join("opt/kubernetes/ssl").join(f)).unwrap_or_else(|e| panic!("etcd01:/opt/kubernetes/ssl/{f}: {e}"))))
        .collect();
    put_files(&out, "/root/real", &[real, flannel].concat());
    let four = spec_with_outsider(&spec);
    let other = CertBundle::for_cluster(&four).unwrap().generate().unwrap();
    let pick = |b: &k8s_bootstrap_core::pki::Issued, f: &'static str| (f, b.file(f).unwrap_or_else(|| panic!("no {f}")).contents.clone());
    put_files(
        &out,
        "/root/other",
        &["ca.pem", "admin.pem", "admin-key.pem", "etcd04-peer.pem", "etcd04-peer-key.pem"].map(|f| pick(&other, f)),
    );
    // The other CA's certificates look like the cluster's: same subjects.
    let subj = |dir: &str, f: &str| ok(&out, &format!("openssl x509 -noout -subject -issuer -in {dir}/{f}"));
    assert_eq!(subj("/root/real", "ca.pem"), subj("/root/other", "ca.pem"));
    assert_eq!(subj("/root/real", "admin.pem"), subj("/root/other", "admin.pem"));
    assert_ne!(ok(&out, "cat /root/real/ca.pem"), ok(&out, "cat /root/other/ca.pem"));
    // The cluster's CA signs etcd04's peer certificate too (the control joiner).
    let text = |f: &str| String::from_utf8(pki.file(f).unwrap_or_else(|| panic!("no {f}")).contents.clone()).unwrap();
    let same_ca = CertBundle::builder()
        .existing_ca(text("ca.pem"), Some(text("ca-key.pem")))
        .member(EtcdMember::new("etcd04", [OUTSIDER]))
        .build()
        .unwrap()
        .generate()
        .unwrap();
    assert_eq!(same_ca.file("ca.pem").unwrap().contents, pki.file("ca.pem").unwrap().contents);
    put_files(&out, "/root/same", &["etcd04-peer.pem", "etcd04-peer-key.pem"].map(|f| pick(&same_ca, f)));


    // --- 1 and 2: clients on 2379 and 2380.
    let real_admin = "--cacert=/root/real/ca.pem --cert=/root/real/admin.pem --key=/root/real/admin-key.pem";
    let no_cert = "--insecure-skip-tls-verify";
    let other_admin = "--insecure-skip-tls-verify --cert=/root/other/admin.pem --key=/root/other/admin-key.pem";
    for ip in MEMBERS {
        let h = member(ip);
        let since = now_epoch(&h);
        // the control: the cluster's admin certificate reads and writes from the outsider
        let got = ok(&out, &format!("{ETCDCTL} --endpoints=https://{ip}:2379 {real_admin} get /peer-auth/before --print-value-only"));
        assert_eq!(got.trim(), written[0].1, "{ip}");
        ok(&out, &format!("{ETCDCTL} --endpoints=https://{ip}:2379 {real_admin} put /peer-auth/from-outsider-{ip} yes"));
        written.push((format!("/peer-auth/from-outsider-{ip}"), "yes".into()));

        for (who, flags) in [("no certificate", no_cert), ("another CA's admin certificate", other_admin)] {
            let e = refused(&out, &format!("{ETCDCTL} --endpoints=https://{ip}:2379 {flags} get /peer-auth/before"));
            assert!(!e.contains(&written[0].1), "{ip}, {who}: read the value: {e}");
            eprintln!("{ip}:2379 get, {who}: {}", e.lines().last().unwrap_or_default());
            let e = refused(&out, &format!("{ETCDCTL} --endpoints=https://{ip}:2379 {flags} put /peer-auth/intruder-{ip} x"));
            eprintln!("{ip}:2379 put, {who}: {}", e.lines().last().unwrap_or_default());
            // the v2 API and the HTTP endpoints of the same port, with curl
            let cflags = if who == "no certificate" { "-k" } else { "-k --cert /root/other/admin.pem --key /root/other/admin-key.pem" };
            for path in ["/version", "/health", "/v2/keys/", "/v2/members"] {
                let e = refused(&out, &format!("curl -sS --http1.1 --max-time 5 {cflags} https://{ip}:2379{path}"));
                assert!(!e.contains("etcdserver") && !e.contains("\"health\""), "{ip}{path}, {who}: {e}");
            }
            // the peer port: its /members and /version are for peers only
            // (another CA's cert here is its peer certificate for this very address)
            let pflags = if who == "no certificate" { "-k" } else { "-k --cert /root/other/etcd04-peer.pem --key /root/other/etcd04-peer-key.pem" };
            for path in ["/members", "/version"] {
                let e = refused(&out, &format!("curl -sS --http1.1 --max-time 5 {pflags} https://{ip}:2380{path}"));
                assert!(!e.contains("peerURLs") && !e.contains("etcdserver"), "{ip}:2380{path}, {who}: {e}");
            }
        }
        // plaintext: etcdctl and curl over http, to both ports
        let e = refused(&out, &format!("{ETCDCTL} --endpoints=http://{ip}:2379 get /peer-auth/before"));
        assert!(!e.contains(&written[0].1), "{ip} over http: {e}");
        refused(&out, &format!("{ETCDCTL} --endpoints=http://{ip}:2379 put /peer-auth/intruder-{ip} x"));
        for port in [2379, 2380] {
            let (_, e) = run(&out, &format!("curl -sS --http1.1 --max-time 5 http://{ip}:{port}/version"));
            assert!(!e.contains("etcdserver") && !e.contains("etcdcluster"), "{ip}:{port} answered in plaintext: {e}");
        }
        // the peer port's control: a peer certificate of the cluster's CA for
        // the outsider's address reads /members there (etcd also checks the
        // remote address against the peer certificate's SANs, so etcd01's
        // own peer certificate would not do from here)
        let peers = ok(&out, &format!("curl -sS --http1.1 --max-time 5 --cacert /root/real/ca.pem --cert /root/same/etcd04-peer.pem --key /root/same/etcd04-peer-key.pem https://{ip}:2380/members"));
        assert!(peers.contains("peerURLs") && peers.contains("https://10.77.0.12:2380"), "{ip}: {peers}");
        // etcd01's own peer certificate is refused from the outsider's
        // address: etcd checks the remote address against the SANs of a
        // peer's certificate...
        let e = refused(&out, &format!("curl -sS --http1.1 --max-time 5 --cacert /root/real/ca.pem --cert /root/real/etcd01-peer.pem --key /root/real/etcd01-peer-key.pem https://{ip}:2380/members"));
        assert!(!e.contains("peerURLs"), "{ip}: {e}");
        // ...but a certificate without SANs passes that check, and the
        // peer port takes any client certificate of the cluster's CA: the
        // cluster's own client certificates (admin, and flanneld's, which
        // every node has) are served there. Reported, not asserted: it is
        // etcd's rule when peers and clients share a CA and no
        // --peer-cert-allowed-cn is set (see the commit message).
        for c in ["admin", "flanneld"] {
            let (code, text) = run(&out, &format!("curl -sS --http1.1 --max-time 5 --cacert /root/real/ca.pem --cert /root/real/{c}.pem --key /root/real/{c}-key.pem https://{ip}:2380/members"));
            let verdict = if code == 0 && text.contains("peerURLs") { "SERVED" } else { "refused" };
            eprintln!("NOTE {ip}:2380/members with the cluster's {c} client certificate, from {OUTSIDER}: {verdict}");
        }
        // the member logged each refusal, naming the outsider and the reason
        let j = etcd_journal(&h, &since);
        let rejected: Vec<&str> = j.lines().filter(|l| l.contains("rejected connection") && l.contains(OUTSIDER)).collect();
        assert!(rejected.iter().any(|l| l.contains("didn't provide a certificate")), "{ip}: no refusal of the client without certificate in: {j}");
        assert!(rejected.iter().any(|l| l.contains("certificate signed by unknown authority")), "{ip}: no refusal of the other CA in: {j}");
        eprintln!("{ip}: {} refusals of {OUTSIDER} in its journal", rejected.len());
    }
    // also on a member's own loopback listener (https://127.0.0.1:2379)
    let e = refused(&h1, &format!("{ETCDCTL} --endpoints=https://127.0.0.1:2379 {no_cert} get /peer-auth/before"));
    assert!(!e.contains(&written[0].1), "loopback: {e}");
    // none of the refused writes reached the cluster
    assert_eq!(admin(&h1, "get --prefix /peer-auth/intruder --keys-only").trim(), "", "an intruder's write got in");
    assert_healthy(&h1, "after the clients");
    write(&h1, &mut written, "after-clients");

    // --- 3: would-be peers. Each is added as a member with the admin
    // certificate, then started on the outsider with what `member add`
    // printed; (name, peer scheme, TLS flags, joins?).
    let joiners: [(&str, &str, &str, bool); 4] = [
        ("no-cert", "http", "--peer-trusted-ca-file=/root/real/ca.pem --peer-client-cert-auth", false),
        (
            "other-ca",
            "https",
            "--peer-cert-file=/root/other/etcd04-peer.pem --peer-key-file=/root/other/etcd04-peer-key.pem \
             --peer-trusted-ca-file=/root/real/ca.pem --peer-client-cert-auth",
            false,
        ),
        ("self-signed", "https", "--peer-auto-tls", false),
        (
            "same-ca",
            "https",
            "--peer-cert-file=/root/same/etcd04-peer.pem --peer-key-file=/root/same/etcd04-peer-key.pem \
             --peer-trusted-ca-file=/root/real/ca.pem --peer-client-cert-auth",
            true,
        ),
    ];
    for (kind, scheme, tls, joins) in joiners {
        write(&h1, &mut written, &format!("before-{kind}"));
        let peer_url = format!("{scheme}://{OUTSIDER}:2380");
        let (id, initial_cluster) = add_member(&h1, &peer_url);
        let unstarted = member_list(&h1).into_iter().find(|m| m.0 == id).unwrap_or_else(|| panic!("{kind}: {id} not listed"));
        assert_eq!((unstarted.1.as_str(), unstarted.2.as_str()), ("", peer_url.as_str()), "{kind}: {unstarted:?}");
        assert_healthy(&h1, &format!("{kind}: after member add"));

        let data = format!("/var/lib/joiner-{kind}");
        let since: Vec<String> = MEMBERS.iter().map(|ip| now_epoch(&member(ip))).collect();
        let unit = Unit::start(
            &out,
            &format!("joiner-{kind}"),
            &format!(
                "{ETCD} --name={name} --data-dir={data} --listen-peer-urls={peer_url} --initial-advertise-peer-urls={adv} \
                 --initial-cluster={ic} --initial-cluster-state=existing \
                 --listen-client-urls=http://{OUTSIDER}:23790 --advertise-client-urls=http://{OUTSIDER}:23790 {tls}",
                name = "etcd04",
                adv = peer_url,
                ic = initial_cluster,
            ),
        );
        if joins {
            // the control: the same joiner with a certificate of the cluster's CA is in, with the data
            let t = Instant::now();
            let mut got = String::new();
            while t.elapsed() < Duration::from_secs(40) {
                got = run(&out, &format!("{ETCDCTL} --endpoints=http://{OUTSIDER}:23790 get /peer-auth/before --print-value-only")).1;
                if got.trim() == written[0].1 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            assert_eq!(got.trim(), written[0].1, "{kind}: the control joiner did not get the data: {}", unit.log());
            let listed = member_list(&h1).into_iter().find(|m| m.0 == id).unwrap();
            assert_eq!(listed.1, "etcd04", "{kind}: {listed:?}");
            eprintln!("{kind}: joined and read the data");
        } else {
            assert!(unit.wait_exit(Duration::from_secs(60)), "{kind}: the joiner still runs after 60 s: {}", unit.log());
            let log = unit.log();
            eprintln!("{kind}: joiner log (tail):\n{}", log.lines().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"));
            assert!(log.contains("could not retrieve cluster information from the given URLs"), "{kind}: {log}");
            assert!(log.contains("tls: bad certificate") || log.contains("certificate required"), "{kind}: no TLS refusal in its log: {log}");
            // the members' side of it
            let reasons: Vec<String> = MEMBERS
                .iter()
                .zip(&since)
                .flat_map(|(ip, s)| {
                    etcd_journal(&member(ip), s)
                        .lines()
                        .filter(|l| l.contains("rejected connection") && l.contains(OUTSIDER))
                        .map(|l| format!("{ip}: {l}"))
                        .collect::<Vec<_>>()
                })
                .collect();
            let want = if kind == "no-cert" { "didn't provide a certificate" } else { "certificate signed by unknown authority" };
            assert!(reasons.iter().any(|l| l.contains(want)), "{kind}: no member logged `{want}`: {reasons:#?}");
            eprintln!("{kind}: {} refusals logged by the members, e.g. {}", reasons.len(), reasons[0]);
            // never got in, never got any data
            let still = member_list(&h1).into_iter().find(|m| m.0 == id).unwrap();
            assert_eq!(still.1, "", "{kind}: the member started: {still:?}");
            let (code, found) = run(&out, &format!("grep -rl -e {} -e {} {data}", written[0].1, "value-of-"));
            assert_ne!(code, 0, "{kind}: the joiner's data dir holds the cluster's data: {found}");
        }
        drop(unit);
        admin(&h1, &format!("member remove {id}"));
        assert!(member_list(&h1).iter().all(|m| m.0 != id), "{kind}: not removed");
        assert_eq!(member_list(&h1).len(), 3);
        ok(&out, &format!("rm -rf {data}"));
        assert_healthy(&h1, &format!("{kind}: after member remove"));
        write(&h1, &mut written, &format!("after-{kind}"));
    }

    // --- every key the test wrote is there, on every member.
    for ip in MEMBERS {
        let h = member(ip);
        for (k, v) in &written {
            let got = ok(&h, &format!("timeout 30 /opt/etcd/bin/etcdctl-admin --endpoints=https://{ip}:2379 get {k} --print-value-only"));
            assert_eq!(got.trim(), v, "{ip}: {k}");
        }
    }
    let mut names: Vec<String> = member_list(&h1).into_iter().map(|m| m.1).collect();
    names.sort();
    assert_eq!(names, ["etcd01", "etcd02", "etcd03"]);
    eprintln!("{} keys written, all there; {:.0?} in all", written.len(), started.elapsed());
    drop(tb);
}
