//! Day 2 on 5 real test hosts: grow the etcd cluster from 3 to 5 members
//! and back to 3 by changing the spec and applying, while a client keeps
//! writing; every write that etcd acknowledged is readable afterwards.
//! And on 4: an `etcdctl member add` that etcd made but whose answer was
//! lost still ends with the new member started.
//!
//! Needs root (it boots the testbed); it fails, never skips, without it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_bootstrap_core::apply::{ApplyOptions, Engine, Report, fetch_releases};
use k8s_bootstrap_core::pki::{CertBundle, Issued};
use k8s_bootstrap_core::spec::{ClusterSpec, ReleaseSource};
use k8s_bootstrap_core::transport::{Command, FileSource, FileStat, LocalTransport, Output, PutOptions, PutOutcome, SshConfig, SshTransport, Transport};
use k8s_bootstrap_testbed::Testbed;

/// etcd01.. at 10.77.0.11..; the first `members` of the `hosts` are etcd
/// members, all are nodes.
fn spec(hosts: usize, members: usize) -> ClusterSpec {
    let mut yaml = String::from("hosts:\n");
    for i in 1..=hosts {
        let roles = if i <= members { "[etcd, node]" } else { "[node]" };
        yaml.push_str(&format!("  - {{ name: etcd0{i}, address: 10.77.0.{}, roles: {roles} }}\n", 10 + i));
    }
    yaml.push_str(
        r#"versions: { etcd: "3.4.23", flannel: "0.26.1" }
binaries: { etcd: /usr/bin/etcd, etcdctl: /usr/bin/etcdctl }
layout: { dockerd: /usr/sbin/dockerd }
hostprep: { time_sync: leave, swap_off: false }
pki: { key_algorithm: ecdsa-p256 }
"#,
    );
    ClusterSpec::load(&yaml).expect("valid spec").0
}

/// A child process killed on drop.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn engine(tb: &Testbed, spec: &ClusterSpec, pki: &Issued) -> Engine {
    Engine::new(spec, pki, connect(tb, spec).await).expect("engine")
}

async fn connect(tb: &Testbed, spec: &ClusterSpec) -> BTreeMap<String, Arc<dyn Transport>> {
    let mut hosts: BTreeMap<String, Arc<dyn Transport>> = BTreeMap::new();
    for h in &spec.hosts {
        let cfg = SshConfig::new(h.address.to_string())
            .identity_file(tb.client_key())
            .known_hosts(tb.known_hosts())
            .use_agent(false)
            .connect_timeout(Duration::from_secs(10));
        hosts.insert(h.name.clone(), Arc::new(SshTransport::connect(cfg).await.expect("connect")));
    }
    hosts
}

async fn apply(tb: &Testbed, spec: &ClusterSpec, pki: &Issued) -> Report {
    engine(tb, spec, pki).await.apply(&ApplyOptions::default()).await
}

fn changes(r: &Report) -> Vec<String> {
    r.hosts.iter().flat_map(|(n, h)| h.changes.iter().map(move |c| format!("{n}: {} {}", c.stage, c.what))).collect()
}

#[test]
fn grow_to_five_members_and_back_while_a_client_writes() {
    let tb = Testbed::up(5).expect("booting 5 test hosts (needs root)");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (three, five) = (spec(5, 3), spec(5, 5));
    // One CA for both specs: the members' certs are issued per member.
    let pki = CertBundle::for_cluster(&five).unwrap().generate().unwrap();
    let h1 = &tb.hosts()[0];
    let member_names = || -> Vec<String> {
        let out = h1.sh("/opt/etcd/bin/etcdctl-admin member list").unwrap();
        let mut v: Vec<String> = out.lines().filter_map(|l| l.split(", ").nth(2).map(str::to_string)).collect();
        v.sort();
        v
    };

    let r = rt.block_on(apply(&tb, &three, &pki));
    assert!(r.ok(), "{r:#?}");
    assert_eq!(member_names(), ["etcd01", "etcd02", "etcd03"]);

    // A client on etcd01 writes keys /w/1, /w/2, ... and records each write
    // etcd acknowledged, until told to stop.
    h1.sh("rm -f /root/acked /root/stop-writer; nohup sh -c 'i=0; while [ ! -e /root/stop-writer ]; do i=$((i+1)); \
           if /opt/etcd/bin/etcdctl-admin --command-timeout=5s put /w/$i $i >/dev/null 2>&1; then echo $i >> /root/acked; fi; \
           done' >/dev/null 2>&1 &")
        .unwrap();

    let grow = rt.block_on(apply(&tb, &five, &pki));
    assert!(grow.ok(), "{grow:#?}");
    let c = changes(&grow);
    for m in ["etcd04", "etcd05"] {
        assert!(c.iter().any(|l| l.starts_with(&format!("{m}: etcd add etcd member {m}"))), "{m}: {c:#?}");
    }
    assert_eq!(member_names(), ["etcd01", "etcd02", "etcd03", "etcd04", "etcd05"]);
    assert_eq!(h1.sh("/opt/etcd/bin/etcdctl-admin endpoint health --cluster 2>&1 | grep -c 'is healthy'").unwrap().trim(), "5");
    let again = rt.block_on(apply(&tb, &five, &pki));
    assert_eq!(changes(&again), Vec::<String>::new(), "growing is stable");

    let shrink = rt.block_on(apply(&tb, &three, &pki));
    assert!(shrink.ok(), "{shrink:#?}");
    let c = changes(&shrink);
    for m in ["etcd04", "etcd05"] {
        assert!(c.iter().any(|l| l.ends_with(&format!("remove etcd member {m}"))), "{m}: {c:#?}");
        assert!(c.iter().any(|l| l.starts_with(&format!("{m}: etcd stop etcd"))), "{m}: {c:#?}");
    }
    assert_eq!(member_names(), ["etcd01", "etcd02", "etcd03"]);
    for h in &tb.hosts()[3..] {
        assert_eq!(h.sh("systemctl is-active etcd || true").unwrap().trim(), "inactive", "{}", h.name);
    }
    let again = rt.block_on(apply(&tb, &three, &pki));
    assert_eq!(changes(&again), Vec::<String>::new(), "shrinking is stable");

    // Stop the client; every acknowledged write is there with its value.
    h1.sh("touch /root/stop-writer; sleep 6").unwrap();
    let acked: Vec<u64> = h1.sh("cat /root/acked").unwrap().lines().map(|l| l.parse().unwrap()).collect();
    assert!(acked.len() >= 20, "the client wrote too little to prove anything: {}", acked.len());
    let dump = h1.sh("/opt/etcd/bin/etcdctl-admin get --prefix /w/").unwrap();
    let lines: Vec<&str> = dump.lines().collect();
    let stored: BTreeMap<&str, &str> = lines.chunks(2).filter(|c| c.len() == 2).map(|c| (c[0], c[1])).collect();
    let lost: Vec<u64> = acked.iter().copied().filter(|i| stored.get(format!("/w/{i}").as_str()) != Some(&i.to_string().as_str())).collect();
    assert!(lost.is_empty(), "{} of {} acknowledged writes lost: {:?}", lost.len(), acked.len(), &lost[..lost.len().min(20)]);
    eprintln!("{} acknowledged writes during grow and shrink, all readable", acked.len());

    // --- etcd from a release tarball in the upstream layout, downloaded
    // over HTTP (a server on loopback) with its sha256: the hosts already
    // have those very binaries, so apply changes nothing.
    let dir = tempfile::tempdir().unwrap();
    let rel = dir.path().join("etcd-v3.4.23-linux-amd64");
    std::fs::create_dir(&rel).unwrap();
    for b in ["etcd", "etcdctl"] {
        std::fs::copy(format!("/usr/bin/{b}"), rel.join(b)).unwrap();
    }
    let ok = std::process::Command::new("tar")
        .args(["czf", "etcd-v3.4.23-linux-amd64.tar.gz", "etcd-v3.4.23-linux-amd64"])
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(ok.success());
    let tgz = std::fs::read(dir.path().join("etcd-v3.4.23-linux-amd64.tar.gz")).unwrap();
    let sha = { use sha2::Digest; hex::encode(sha2::Sha256::digest(&tgz)) };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = Server(
        std::process::Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 -m http.server"),
    );
    std::thread::sleep(Duration::from_millis(800));
    let mut from_url = three.clone();
    from_url.binaries.etcd = None;
    from_url.binaries.etcdctl = None;
    from_url.binaries.etcd_release = Some(ReleaseSource {
        url: Some(format!("http://127.0.0.1:{port}/etcd-v3.4.23-linux-amd64.tar.gz")),
        sha256: Some(sha.clone()),
        path: None,
    });
    from_url.validate().expect("valid");
    let local = LocalTransport::new();
    let cache = dir.path().join("cache").to_string_lossy().into_owned();
    let releases = rt.block_on(fetch_releases(&from_url, &local, &cache)).expect("download");
    assert_eq!(releases.names().collect::<Vec<_>>(), ["etcd", "etcdctl"]);
    drop(server);
    // Fetched once: the cache serves the next run with the server gone.
    let again_rel = rt.block_on(fetch_releases(&from_url, &local, &cache)).expect("from the cache");
    let r = rt.block_on(async { engine(&tb, &from_url, &pki).await.with_releases(&again_rel).apply(&ApplyOptions::default()).await });
    assert!(r.ok(), "{r:#?}");
    assert_eq!(changes(&r), Vec::<String>::new(), "same etcd already installed");
    // A wrong sha256 is refused, naming the field.
    let mut bad = from_url.clone();
    bad.binaries.etcd_release.as_mut().unwrap().sha256 = Some("0".repeat(64));
    bad.binaries.etcd_release.as_mut().unwrap().url = None;
    bad.binaries.etcd_release.as_mut().unwrap().path = Some(dir.path().join("etcd-v3.4.23-linux-amd64.tar.gz").to_string_lossy().into_owned());
    let e = rt.block_on(fetch_releases(&bad, &local, &cache)).unwrap_err().to_string();
    assert!(e.contains("binaries.etcd_release") && e.contains(&sha), "{e}");
    drop(tb);
}

/// A host's transport whose `etcdctl member add` runs on the host (etcd
/// makes the add) and then answers as a lost answer does: etcdctl's
/// timeout, exit 1. So it goes when the member that served the add goes
/// away before answering, or the leader changes as the add commits.
struct AddAnswerLost(Arc<dyn Transport>);

#[async_trait::async_trait]
impl Transport for AddAnswerLost {
    fn host(&self) -> String {
        self.0.host()
    }
    async fn run(&self, cmd: &Command) -> k8s_bootstrap_core::transport::Result<Output> {
        let out = self.0.run(cmd).await?;
        // etcd refuses an add at first ("unhealthy cluster": its members
        // connected only just now); the run asks again
        if out.exit_code != Some(0) || !cmd.argv.windows(2).any(|w| w == ["member", "add"]) {
            return Ok(out);
        }
        Ok(Output { stdout: Vec::new(), stderr: b"Error: context deadline exceeded\n".to_vec(), exit_code: Some(1) })
    }
    async fn put_file(&self, path: &str, source: &FileSource, opts: &PutOptions) -> k8s_bootstrap_core::transport::Result<PutOutcome> {
        self.0.put_file(path, source, opts).await
    }
    async fn put_files(&self, files: &[(String, FileSource, PutOptions)]) -> Vec<k8s_bootstrap_core::transport::Result<PutOutcome>> {
        self.0.put_files(files).await
    }
    async fn read_file(&self, path: &str) -> k8s_bootstrap_core::transport::Result<Option<Vec<u8>>> {
        self.0.read_file(path).await
    }
    async fn stat(&self, path: &str) -> k8s_bootstrap_core::transport::Result<Option<FileStat>> {
        self.0.stat(path).await
    }
}

#[test]
fn an_add_made_whose_answer_is_lost_still_starts_the_new_member() {
    let tb = Testbed::up(4).expect("booting 4 test hosts (needs root)");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (three, four) = (spec(4, 3), spec(4, 4));
    let pki = CertBundle::for_cluster(&four).unwrap().generate().unwrap();
    let r = rt.block_on(apply(&tb, &three, &pki));
    assert!(r.ok(), "{r:#?}");

    // The add runs through the first running member, etcd01.
    let grow = rt.block_on(async {
        let mut hosts = connect(&tb, &four).await;
        let via = hosts.remove("etcd01").unwrap();
        hosts.insert("etcd01".into(), Arc::new(AddAnswerLost(via)));
        Engine::new(&four, &pki, hosts).expect("engine").apply(&ApplyOptions::default()).await
    });
    assert!(grow.ok(), "{grow:#?}");
    let notes = &grow.hosts["etcd04"].notes;
    assert!(
        notes.iter().any(|n| n.starts_with("etcd member add etcd04 failed (") && n.contains("context deadline exceeded") && n.ends_with("but the member list on etcd01 has it: going on with the join")),
        "{notes:#?}"
    );
    let h1 = &tb.hosts()[0];
    let list = h1.sh("/opt/etcd/bin/etcdctl-admin member list").unwrap();
    let mut started: Vec<&str> = list.lines().filter(|l| l.split(", ").nth(1) == Some("started")).filter_map(|l| l.split(", ").nth(2)).collect();
    started.sort();
    assert_eq!(started, ["etcd01", "etcd02", "etcd03", "etcd04"], "{list}");
    assert_eq!(list.lines().count(), 4, "{list}");
    assert_eq!(h1.sh("/opt/etcd/bin/etcdctl-admin endpoint health --cluster 2>&1 | grep -c 'is healthy'").unwrap().trim(), "4");
    let again = rt.block_on(apply(&tb, &four, &pki));
    assert_eq!(changes(&again), Vec::<String>::new(), "the join is complete");
}
