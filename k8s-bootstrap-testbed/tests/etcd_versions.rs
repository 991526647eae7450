//! The etcd version matrix, live (issue 16): for each of etcd 3.4, 3.5, 3.6
//! and 3.7, a 3-member TLS cluster on test hosts comes up healthy from the
//! testbed spec with only `versions.etcd` and `binaries.etcd_release`
//! changed (the upstream-layout tarball scripts/setup packed, with its
//! sha256). `status` must report, for each member, the server version the
//! real binary says of itself; peers and clients are TLS with cert auth.
//!
//! One testbed for all four versions (booting one waits on a machine-wide
//! lock); between versions `reset --purge`, so each version starts from
//! bare hosts and an empty data dir. The test prints what it ran.
//!
//! Needs root and scripts/setup; it fails, never skips, without them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_bootstrap_core::apply::{ApplyOptions, ClusterStatus, Engine, fetch_releases};
use k8s_bootstrap_core::pki::CertBundle;
use k8s_bootstrap_core::spec::ClusterSpec;
use k8s_bootstrap_core::transport::LocalTransport;
use k8s_bootstrap_testbed::binaries::{ETCD_MINORS, Manifest, Release, use_etcd_release};
use k8s_bootstrap_testbed::{Host, Testbed};

/// examples/testbed-cluster.yaml with only the etcd version and its
/// release tarball changed (the single-binary paths cleared: a spec gives
/// one or the other).
fn spec_for(release: &Release) -> ClusterSpec {
    let base = testbed_spec();
    let mut spec = base.clone();
    use_etcd_release(&mut spec, release).expect("the manifest's etcd release");
    // Nothing else differs from the testbed spec.
    let mut same = spec.clone();
    same.versions.etcd = base.versions.etcd;
    same.binaries = base.binaries.clone();
    assert_eq!(same, base);
    spec.validate().unwrap_or_else(|e| panic!("etcd {}: {e}", release.version));
    spec
}

/// examples/testbed-cluster.yaml as it is.
fn testbed_spec() -> ClusterSpec {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/testbed-cluster.yaml");
    let yaml = std::fs::read_to_string(path).expect("examples/testbed-cluster.yaml");
    ClusterSpec::load(&yaml).expect("valid testbed spec").0
}

/// `etcd Version: 3.7.3` -> `3.7.3`, from `etcd --version`.
fn version_line(out: &str) -> Option<String> {
    out.lines().find_map(|l| l.strip_prefix("etcd Version:")).map(|v| v.trim().to_string())
}

/// What the real binary on this machine says of itself.
fn binary_says(etcd: &Path) -> String {
    let out = std::process::Command::new("timeout")
        .args(["10"])
        .arg(etcd)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", etcd.display()));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    version_line(&text).unwrap_or_else(|| panic!("{} --version: {text}", etcd.display()))
}

/// A plaintext HTTP request to `ip:port` must not get an etcd answer (at
/// most Go's "client sent an HTTP request to an HTTPS server").
fn plaintext_gets_no_etcd_answer(ip: &str, port: u16) {
    let addr = format!("{ip}:{port}").parse().unwrap();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).unwrap_or_else(|e| panic!("{addr}: nothing listens: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = s.write_all(b"GET /version HTTP/1.0\r\n\r\n");
    let mut buf = Vec::new();
    let _ = s.take(64 * 1024).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    assert!(!text.contains("etcdserver") && !text.contains("200 OK"), "{addr} answered in plaintext: {text}");
}

/// `sh -c` in a host, bounded in time by `timeout`.
fn sh(h: &Host, secs: u32, script: &str) -> String {
    h.sh(&format!("timeout {secs} sh -c {}", shell_words(script))).unwrap_or_else(|e| panic!("{}: {script}: {e}", h.name))
}

fn shell_words(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Reads the status until etcd is healthy with every version known, at
/// most 10 times over at most 60 s (apply's health gate already waited:
/// normally the first read is it).
fn healthy_status(rt: &tokio::runtime::Runtime, tb: &Testbed, spec: &ClusterSpec, pki: &k8s_bootstrap_core::pki::Issued) -> (ClusterStatus, u32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut reads = 0;
    loop {
        reads += 1;
        let s = rt.block_on(async { Engine::new(spec, pki, tb.transports(spec).await).unwrap().status().await });
        let done = s.etcd_healthy && s.etcd_endpoints.iter().all(|e| e.server_version.is_some());
        if done || reads >= 10 || Instant::now() > deadline {
            return (s, reads);
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// The etcd minors docs/versions.md marks live through this test, with
/// the flannel minor of `flannel` (`0.28`).
fn doc_says_live_here(flannel: &str) -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/versions.md");
    let doc = std::fs::read_to_string(path).expect("docs/versions.md");
    let mut out = Vec::new();
    for l in doc.lines().filter(|l| l.starts_with("| 3.")) {
        let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
        let covers = |range: &str| {
            let minor = |v: &str| v.trim().split('.').nth(1).and_then(|m| m.parse::<u32>().ok());
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let f = minor(flannel);
            f >= minor(a) && f <= minor(b)
        };
        if cells.len() == 6 && covers(cells[1]) && cells[2] == "live" && cells[5].contains("etcd_versions.rs") {
            out.push(cells[0].to_string());
        }
    }
    out
}

struct Ran {
    minor: &'static str,
    tarball: String,
    sha256: String,
    binary_says: String,
    members_say: Vec<String>,
    apply_ms: u64,
    total: Duration,
}

#[test]
fn etcd_3_4_to_3_7_each_a_healthy_tls_cluster_on_three_test_hosts() {
    let started = Instant::now();
    let manifest = Manifest::load().expect("the binaries of scripts/setup");
    // docs/versions.md says which pairs this test runs: exactly these.
    let flannel = testbed_spec().versions.flannel.to_string();
    assert_eq!(doc_says_live_here(&flannel), ETCD_MINORS, "docs/versions.md: the etcd minors live with flannel {flannel} in etcd_versions.rs");
    let tb = Testbed::up(3).expect("booting 3 test hosts (needs root, see k8s-bootstrap-testbed docs)");
    let up_after = started.elapsed();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let ips: Vec<String> = tb.hosts().iter().map(|h| h.ip.to_string()).collect();
    assert!(ips.iter().all(|ip| ip.starts_with("10.77.0.")), "{ips:?}");
    let mut ran: Vec<Ran> = Vec::new();

    for minor in ETCD_MINORS {
        let t0 = Instant::now();
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let release = manifest.etcd_release(minor).unwrap_or_else(|e| panic!("{e}"));
        let real = manifest.etcd(minor).unwrap_or_else(|e| panic!("{e}"));
        let says = binary_says(&real.path);
        assert_eq!(says, release.version, "the manifest's etcd {minor} and its binary disagree");
        println!("etcd {minor}: {} (sha256 {}), binary {} says {says}", release.path.display(), release.sha256, real.path.display());
        let spec = spec_for(release);
        let pki = CertBundle::for_cluster(&spec).unwrap().generate().unwrap();
        let releases = rt
            .block_on(fetch_releases(&spec, &LocalTransport::new(), &cache.path().to_string_lossy()))
            .unwrap_or_else(|e| panic!("etcd {minor}: {e}"));
        let want_bins: &[&str] = if minor == "3.4" { &["etcd", "etcdctl"] } else { &["etcd", "etcdctl", "etcdutl"] };
        assert_eq!(releases.names().collect::<Vec<_>>(), want_bins, "etcd {minor}: what the tarball gives");

        // --- apply from bare hosts.
        let report = rt.block_on(async {
            Engine::new(&spec, &pki, tb.transports(&spec).await).unwrap().with_releases(&releases).apply(&ApplyOptions::default()).await
        });
        assert!(report.ok(), "etcd {minor}: apply failed: {report:#?}");
        println!("etcd {minor}: apply {} changes in {} ms", report.change_count(), report.elapsed_ms);

        // --- status: healthy, the spec's members, each at the binary's version.
        let (status, reads) = healthy_status(&rt, &tb, &spec, &pki);
        assert!(status.etcd_healthy, "etcd {minor}: not healthy after {reads} reads: {status:#?}");
        assert_eq!(status.etcd_members, ["etcd01", "etcd02", "etcd03"], "etcd {minor}");
        assert!(status.problems.is_empty(), "etcd {minor}: {:?}", status.problems);
        let mut endpoints: Vec<&str> = status.etcd_endpoints.iter().map(|e| e.endpoint.as_str()).collect();
        endpoints.sort();
        let want: Vec<String> = ips.iter().map(|ip| format!("https://{ip}:2379")).collect();
        assert_eq!(endpoints, want, "etcd {minor}");
        for e in &status.etcd_endpoints {
            assert_eq!(e.server_version.as_deref(), Some(says.as_str()), "etcd {minor}: {} reports another version", e.endpoint);
        }
        for (name, hs) in &status.hosts {
            for unit in ["etcd", "flanneld", "docker"] {
                assert_eq!(hs.units[unit], "active", "etcd {minor}: {name}: {unit}");
            }
            assert!(hs.docker_bridge.as_ref().is_some_and(|b| b.matches), "etcd {minor}: {name}: {:?}", hs.docker_bridge);
        }
        assert_eq!(status.flannel_api, "v3");
        assert!(status.flannel_config.is_some(), "etcd {minor}: flannel's config in etcd");

        // --- a snapshot, checked on the member with this etcd's own tool
        // (etcdctl to 3.5, etcdutl from 3.6, which dropped `etcdctl
        // snapshot status`), and read again here by the real tool.
        let file = cache.path().join(format!("snapshot-{minor}.db"));
        let info = rt
            .block_on(async { Engine::new(&spec, &pki, tb.transports(&spec).await).unwrap().snapshot(&LocalTransport::new(), &file.to_string_lossy()).await })
            .unwrap_or_else(|e| panic!("etcd {minor}: snapshot: {e}"));
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600, "etcd {minor}: the snapshot holds every key");
        }
        let (tool, api) = if minor == "3.4" { (manifest.etcdctl(minor).unwrap().path.clone(), "3") } else { (manifest.etcdutl(minor).unwrap().path.clone(), "") };
        let out = std::process::Command::new(&tool).args(["snapshot", "status"]).arg(&file).args(["-w", "json"]).env("ETCDCTL_API", api).output().unwrap();
        let local: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("etcd {minor}: {} snapshot status: {e}: {out:?}", tool.display()));
        assert_eq!(local["revision"].as_u64(), Some(info.revision), "etcd {minor}: {info:?}");
        assert_eq!(local["totalKey"].as_u64(), Some(info.total_keys), "etcd {minor}: {info:?}");
        assert!(info.total_keys > 0, "etcd {minor}: flannel's config at least: {info:?}");

        // --- on each host: the uploaded binary is the tarball's, every
        // ETCD_* setting is a flag this etcd knows (none removed by 3.7,
        // no --experimental-*), etcd logged nothing unrecognized, and the
        // admin wrapper runs without a warning.
        let help = String::from_utf8_lossy(&std::process::Command::new("timeout").arg("10").arg(&real.path).arg("--help").output().unwrap().stdout).into_owned()
            + &String::from_utf8_lossy(&std::process::Command::new("timeout").arg("10").arg(&real.path).arg("--help").output().unwrap().stderr);
        for h in tb.hosts() {
            let on_host = version_line(&sh(h, 10, "/opt/etcd/bin/etcd --version")).unwrap_or_default();
            assert_eq!(on_host, says, "etcd {minor}: {}: /opt/etcd/bin/etcd", h.name);
            let env = sh(h, 10, "cat /opt/etcd/cfg/etcd");
            for var in env.lines().filter_map(|l| l.split_once('=')).map(|(k, _)| k).filter(|k| k.starts_with("ETCD_")) {
                let flag = format!("--{}", var.trim_start_matches("ETCD_").to_lowercase().replace('_', "-"));
                assert!(!flag.starts_with("--experimental"), "etcd {minor}: {}: {var}", h.name);
                assert!(
                    help.lines().any(|l| l.split_whitespace().next() == Some(flag.as_str())),
                    "etcd {minor}: {}: {var} is not a flag of etcd {says} ({flag} not in --help)", h.name
                );
            }
            assert_eq!(env.contains("ETCD_ENABLE_V2"), minor < "3.6", "etcd {minor}: {}: ETCD_ENABLE_V2 only where etcd has it", h.name);
            let journal = sh(h, 20, &format!("journalctl -u etcd --since @{since} --no-pager -o cat || true"));
            assert!(!journal.contains("unrecognized environment variable"), "etcd {minor}: {}: {journal}", h.name);
            assert!(!journal.contains("shadowed by corresponding command-line flag"), "etcd {minor}: {}", h.name);
            let out = h.exec(&["timeout", "20", "/opt/etcd/bin/etcdctl-admin", "endpoint", "health"]).unwrap();
            assert!(out.status.success(), "etcd {minor}: {}: {out:?}", h.name);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains("warn"), "etcd {minor}: {}: etcdctl-admin warns: {stderr}", h.name);
        }

        // --- TLS with cert auth, peers and clients: plaintext gets no etcd
        // answer; TLS without a client certificate is refused.
        let h1 = &tb.hosts()[0];
        for ip in &ips {
            plaintext_gets_no_etcd_answer(ip, 2379);
            plaintext_gets_no_etcd_answer(ip, 2380);
            for (port, path) in [(2379, "/version"), (2380, "/members")] {
                let code = sh(
                    h1,
                    15,
                    &format!("curl -sS -o /dev/null -w '%{{http_code}}' --max-time 5 --cacert /opt/etcd/ssl/ca.pem https://{ip}:{port}{path} 2>/dev/null; echo \" exit=$?\""),
                );
                assert!(code.starts_with("000"), "etcd {minor}: {ip}:{port} answered a client without a certificate: {code}");
            }
            // The same request with the admin client certificate is served.
            let with_cert = sh(
                h1,
                15,
                &format!("curl -sS --max-time 5 --cacert /opt/etcd/ssl/ca.pem --cert /opt/etcd/ssl/admin.pem --key /opt/etcd/ssl/admin-key.pem https://{ip}:2379/version"),
            );
            assert!(with_cert.contains(&format!("\"etcdserver\":\"{says}\"")), "etcd {minor}: {ip}: {with_cert}");
        }
        let env1 = sh(h1, 10, "cat /opt/etcd/cfg/etcd");
        for line in ["ETCD_CLIENT_CERT_AUTH=\"true\"", "ETCD_PEER_CLIENT_CERT_AUTH=\"true\""] {
            assert!(env1.contains(line), "etcd {minor}: {line}: {env1}");
        }
        assert!(!env1.contains("http://"), "etcd {minor}: a plaintext URL: {env1}");
        let mut members_say: Vec<String> = status.etcd_endpoints.iter().map(|e| format!("{} {}", e.endpoint, e.server_version.as_deref().unwrap_or("-"))).collect();
        members_say.sort();

        // --- reset --purge: the next version starts from bare hosts.
        let reset = rt.block_on(async {
            Engine::new(&spec, &pki, tb.transports(&spec).await).unwrap().with_releases(&releases).reset(&ApplyOptions::default(), true).await
        });
        assert!(reset.ok(), "etcd {minor}: reset --purge: {reset:#?}");
        for h in tb.hosts() {
            let left = sh(h, 10, "systemctl is-active etcd flanneld docker || true; ls -d /opt/etcd /var/lib/etcd/default.etcd /run/flannel 2>/dev/null || true");
            assert_eq!(left, "inactive\ninactive\ninactive\n", "etcd {minor}: {}: left after reset --purge", h.name);
        }
        ran.push(Ran {
            minor,
            tarball: release.path.display().to_string(),
            sha256: release.sha256.clone(),
            binary_says: says,
            members_say,
            apply_ms: report.elapsed_ms,
            total: t0.elapsed(),
        });
    }

    println!(
        "\netcd version matrix on 3 test hosts: {} s in all, {} s of it waiting for and booting the testbed:",
        started.elapsed().as_secs(),
        up_after.as_secs()
    );
    for r in &ran {
        println!("  etcd {}: {} sha256 {}", r.minor, r.tarball, r.sha256);
        println!("    the binary says {}; apply {} ms; {} s with checks and reset", r.binary_says, r.apply_ms, r.total.as_secs());
        for m in &r.members_say {
            println!("    status: {m}");
        }
    }
    assert_eq!(ran.len(), ETCD_MINORS.len());
    drop(tb);
}
