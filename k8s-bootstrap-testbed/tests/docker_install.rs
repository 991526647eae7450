//! Docker installed by the tool (issue 16), on 3 test hosts (Debian, as
//! this machine): a node whose docker.io was removed inside its own root
//! gets it back with apt-get from a local apt repository that another test
//! host serves (built here from `apt-get download` of the needed .deb files;
//! the traffic stays between test hosts), and another node gets it from the
//! offline folder (`docker.install: { offline: FOLDER }`, uploaded and
//! installed). The host that has docker gets nothing installed; a second
//! apply changes nothing. Expected values come from the hosts: dpkg's
//! status, `dockerd --version`, docker0's address, the repository's log.
//!
//! Needs root, network to Debian's archive on the first run (apt-get
//! download, cached in `$K8S_BOOTSTRAP_CACHE/docker-debs`), dpkg-dev
//! (dpkg-scanpackages) and python3 (scripts/setup); fails, never skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use k8s_bootstrap_core::apply::{ApplyOptions, Engine, Report, Stage};
use k8s_bootstrap_core::docker::DockerInstall;
use k8s_bootstrap_core::pki::{CertBundle, Issued};
use k8s_bootstrap_core::spec::ClusterSpec;
use k8s_bootstrap_testbed::{Host, Testbed, binaries};

const REPO_PORT: u16 = 8765;
const REPO_UNIT: &str = "k8s-bootstrap-test-apt-repo";

fn spec() -> ClusterSpec {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/testbed-cluster.yaml");
    let (mut spec, _) = ClusterSpec::load(&std::fs::read_to_string(path).unwrap()).expect("testbed spec");
    let m = binaries::Manifest::load().expect("the binaries of scripts/setup");
    let flanneld = m.flanneld().expect("flanneld");
    spec.binaries.flanneld = Some(flanneld.path.to_string_lossy().into_owned());
    spec.versions.flannel = flanneld.version.parse().expect("flannel version");
    spec
}

async fn apply(tb: &Testbed, spec: &ClusterSpec, pki: &Issued) -> Report {
    Engine::new(spec, pki, tb.transports(spec).await).expect("engine").apply(&ApplyOptions::default()).await
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The version of a package installed on this machine.
fn machine_version(pkg: &str) -> String {
    run(Command::new("dpkg-query").args(["-W", "-f=${Version}", pkg]))
}

/// `pkg` at `version` as a .deb in `dir`, downloaded from the machine's
/// apt sources when it is not there yet.
fn download(dir: &Path, pkg: &str, version: &str) -> PathBuf {
    let prefix = format!("{pkg}_");
    let find = || {
        std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(&prefix) && n.ends_with(".deb") && deb_field(p, "Version") == version
        })
    };
    if let Some(p) = find() {
        return p;
    }
    run(Command::new("apt-get").arg("download").arg(format!("{pkg}={version}")).current_dir(dir));
    find().unwrap_or_else(|| panic!("apt-get download {pkg}={version} left no .deb in {}", dir.display()))
}

fn deb_field(deb: &Path, field: &str) -> String {
    run(Command::new("dpkg-deb").arg("-f").arg(deb).arg(field)).trim().to_string()
}

fn installed_in(h: &Host, pkg: &str) -> bool {
    h.sh(&format!("dpkg-query -W -f='${{Status}}' {pkg} 2>/dev/null")).is_ok_and(|s| s == "install ok installed")
}

/// docker.io and each of its dependencies that `h` lacks, as .deb files in
/// the cache (the set an offline folder or a repository must hold). What
/// `h` lacks is apt's own answer inside the host (`apt-get -s install` of
/// the .deb: Provides and versions included), before its sources change.
fn needed_debs(h: &Host) -> Vec<PathBuf> {
    let dir = binaries::cache_dir().join("docker-debs");
    std::fs::create_dir_all(&dir).unwrap();
    let docker = download(&dir, "docker.io", &machine_version("docker.io"));
    let inside = h.root.join("tmp").join(docker.file_name().unwrap());
    std::fs::copy(&docker, &inside).unwrap();
    let sim = h
        .sh(&format!("apt-get -s -q install --no-install-recommends /tmp/{}", docker.file_name().unwrap().to_string_lossy()))
        .unwrap_or_else(|e| panic!("{}: apt-get -s install docker.io: {e}", h.name));
    std::fs::remove_file(&inside).unwrap();
    let mut debs = vec![docker];
    for pkg in sim.lines().filter_map(|l| l.strip_prefix("Inst ")).map(|l| l.split_whitespace().next().unwrap()).filter(|p| *p != "docker.io") {
        debs.push(download(&dir, pkg, &machine_version(pkg)));
    }
    debs
}

/// A flat apt repository (`deb [trusted=yes] URL ./`) of `debs` in `dir`:
/// Packages from dpkg-scanpackages, and a Release file naming its hashes.
fn build_repo(dir: &Path, debs: &[PathBuf]) {
    std::fs::create_dir_all(dir).unwrap();
    for d in debs {
        std::fs::copy(d, dir.join(d.file_name().unwrap())).unwrap();
    }
    let packages = run(Command::new("dpkg-scanpackages").args(["--multiversion", "."]).current_dir(dir));
    std::fs::write(dir.join("Packages"), &packages).unwrap();
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(packages.as_bytes()));
    let release = format!("Origin: k8s-bootstrap-test\nLabel: k8s-bootstrap-test\nSuite: ./\nArchitectures: amd64\nSHA256:\n {sha} {} Packages\n", packages.len());
    std::fs::write(dir.join("Release"), release).unwrap();
}

/// The host's package sources replaced by `line` (or none): nothing of it
/// reaches beyond the test hosts.
fn set_sources(h: &Host, line: Option<&str>) {
    let write = line.map(|l| format!("echo '{l}' > /etc/apt/sources.list")).unwrap_or_else(|| ": > /etc/apt/sources.list".into());
    h.sh(&format!("rm -f /etc/apt/sources.list.d/*; {write}; rm -rf /var/lib/apt/lists/*; mkdir -p /var/lib/apt/lists/partial")).unwrap();
}

/// What the real system says about docker on `h`.
fn check_docker(h: &Host) {
    let status = h.sh("dpkg-query -W -f='${Status} ${Version}' docker.io").unwrap();
    assert_eq!(status, format!("install ok installed {}", machine_version("docker.io")), "{}: dpkg", h.name);
    let version = h.sh("/usr/sbin/dockerd --version").unwrap_or_else(|e| panic!("{}: dockerd --version: {e}", h.name));
    assert_eq!(version, run(Command::new("/usr/sbin/dockerd").arg("--version")), "{}: dockerd --version", h.name);
    assert!(h.sh("systemctl is-active docker").is_ok(), "{}: docker not active", h.name);
    // docker0 carries flannel's lease (our unit, not the package's default 172.17.0.1/16)
    let lease = h.sh(". /run/flannel/subnet.env && echo $FLANNEL_SUBNET").unwrap();
    let docker0 = h.sh("ip -4 -br addr show dev docker0").unwrap();
    assert!(docker0.contains(lease.trim()), "{}: docker0 `{docker0}`, lease {lease}", h.name);
    // administratively up (its carrier comes with the first container)
    let flags = h.sh("ip -o link show dev docker0").unwrap();
    let flags = flags.split_once('<').and_then(|(_, r)| r.split_once('>')).map(|(f, _)| f.to_string()).unwrap_or_default();
    assert!(flags.split(',').any(|f| f == "UP"), "{}: docker0 flags <{flags}>", h.name);
    assert!(h.sh("ps -o args= -C dockerd").unwrap().contains("--bip="), "{}: dockerd runs from our unit", h.name);
    // docker.socket (enabled by the package) is off: no socket activation
    assert!(h.sh("systemctl is-enabled docker.socket").is_err(), "{}: docker.socket enabled", h.name);
    assert!(h.sh("systemctl is-active docker.socket").is_err(), "{}: docker.socket active", h.name);
}

fn installs(r: &Report, host: &str) -> Vec<String> {
    r.hosts[host].changes.iter().filter(|c| c.what.starts_with("install docker")).map(|c| c.what.clone()).collect()
}

#[test]
fn docker_from_an_apt_repository_of_a_test_host_and_from_an_offline_folder() {
    let t0 = Instant::now();
    let tb = Testbed::up(3).expect("booting 3 test hosts (needs root)");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (h1, h2, h3) = (&tb.hosts()[0], &tb.hosts()[1], &tb.hosts()[2]);
    println!("test hosts up in {:?}", t0.elapsed());

    // etcd02: docker.io removed inside its own root, and no policy-rc.d (as on
    // a usual host; this machine's image has one); its only apt source is
    // the repository that etcd01 serves.
    h2.sh("DEBIAN_FRONTEND=noninteractive dpkg --purge docker.io && rm -f /usr/sbin/policy-rc.d").unwrap();
    assert!(!installed_in(h2, "docker.io") && h2.sh("test -e /usr/sbin/dockerd").is_err());
    let debs = needed_debs(h2);
    let names: Vec<_> = debs.iter().map(|d| d.file_name().unwrap().to_string_lossy().into_owned()).collect();
    println!("packages etcd02 lacks: {names:?}");
    let repo = PathBuf::from("/srv/k8s-bootstrap-test-repo");
    build_repo(&h1.root.join(repo.strip_prefix("/").unwrap()), &debs);
    let url = format!("http://{}:{REPO_PORT}/", h1.ip);
    set_sources(h2, Some(&format!("deb [trusted=yes] {url} ./")));
    let spec = spec();
    assert_eq!(spec.docker.install, DockerInstall::Packages, "the default");
    let pki = CertBundle::for_cluster(&spec).unwrap().generate().unwrap();

    // The repository is not served yet: a clear error, naming host and what to do.
    let only = ApplyOptions { only: Some(["etcd02".to_string()].into()), until: Some(Stage::HostPrep), ..Default::default() };
    let down = rt.block_on(async { Engine::new(&spec, &pki, tb.transports(&spec).await).unwrap().apply(&only).await });
    let f = down.hosts["etcd02"].failed.as_ref().expect("no repository: the install fails");
    println!("unreachable repository: {}", f.error);
    assert!(f.error.starts_with("etcd02: install docker.io with apt-get from the host's apt sources failed"), "{}", f.error);
    assert!(f.error.contains(&format!("{}:{REPO_PORT}", h1.ip)) && f.error.contains("to fix: docker.io must be in one of the host's apt sources"), "{}", f.error);
    assert!(!installed_in(h2, "docker.io"));

    h1.sh(&format!(
        "systemd-run --unit={REPO_UNIT} --property=StandardOutput=append:/var/log/{REPO_UNIT}.log --property=StandardError=append:/var/log/{REPO_UNIT}.log \
         /usr/bin/python3 -m http.server {REPO_PORT} --bind {} --directory {}",
        h1.ip,
        repo.display()
    ))
    .unwrap();
    // wait for the server, from etcd02 (a test host to a test host)
    let up = h2.sh(&format!("for i in $(seq 50); do /usr/bin/python3 -c \"import urllib.request; urllib.request.urlopen('{url}Release')\" 2>/dev/null && exit 0; sleep 0.1; done; exit 1"));
    assert!(up.is_ok(), "the repository on etcd01 does not answer: {up:?}");

    let t = Instant::now();
    let first = rt.block_on(apply(&tb, &spec, &pki));
    println!("apply (install: packages): {} changes in {:?}", first.change_count(), t.elapsed());
    assert!(first.ok(), "apply: {first:#?}");
    assert_eq!(installs(&first, "etcd02"), ["install docker.io with apt-get from the host's apt sources (no dockerd at /usr/sbin/dockerd)"]);
    assert!(installs(&first, "etcd01").is_empty() && installs(&first, "etcd03").is_empty(), "hosts with docker get nothing");
    for h in tb.hosts() {
        check_docker(h);
    }
    // the package came from etcd01's repository, fetched by etcd02
    let log = h1.sh(&format!("cat /var/log/{REPO_UNIT}.log")).unwrap();
    assert!(log.lines().any(|l| l.starts_with(&h2.ip.to_string()) && l.contains("\"GET /") && l.contains("docker.io_") && l.contains(" 200 ")), "repository log:\n{log}");
    // our policy-rc.d was only there during the install
    assert!(h2.sh("test -e /usr/sbin/policy-rc.d").is_err(), "etcd02: policy-rc.d left behind");
    h1.sh(&format!("systemctl stop {REPO_UNIT}")).unwrap();

    // etcd03: docker.io removed while docker runs (the node lost its engine),
    // no apt source at all; the engine comes from the offline folder.
    h3.sh("DEBIAN_FRONTEND=noninteractive dpkg --purge docker.io").unwrap();
    assert!(!installed_in(h3, "docker.io"));
    let offline = tempfile::tempdir().unwrap();
    for d in needed_debs(h3) {
        std::fs::copy(&d, offline.path().join(d.file_name().unwrap())).unwrap();
    }
    set_sources(h3, None);
    let mut spec_offline = spec.clone();
    spec_offline.docker.install = DockerInstall::Offline(offline.path().display().to_string());
    let t = Instant::now();
    let second = rt.block_on(apply(&tb, &spec_offline, &pki));
    println!("apply (install: offline): {} changes in {:?}", second.change_count(), t.elapsed());
    assert!(second.ok(), "apply: {second:#?}");
    let n = std::fs::read_dir(offline.path()).unwrap().count();
    assert_eq!(installs(&second, "etcd03"), [format!("install docker.io with apt-get from {n} .deb file(s) of {} (no dockerd at /usr/sbin/dockerd)", offline.path().display())]);
    assert!(installs(&second, "etcd01").is_empty() && installs(&second, "etcd02").is_empty());
    for h in tb.hosts() {
        check_docker(h);
    }
    assert!(h3.sh("test -e /var/cache/k8s-bootstrap/docker-packages").is_err(), "etcd03: uploaded packages left behind");
    assert!(h3.sh("test -x /usr/sbin/policy-rc.d").is_ok(), "etcd03: its own policy-rc.d is left alone");

    let t = Instant::now();
    let again = rt.block_on(apply(&tb, &spec_offline, &pki));
    println!("apply again: {} changes in {:?}", again.change_count(), t.elapsed());
    assert!(again.ok() && again.change_count() == 0, "second apply: {:?}", again.hosts.iter().map(|(n, h)| (n, &h.changes)).collect::<Vec<_>>());
    tb.down().unwrap();
    println!("docker install test: {:?}", t0.elapsed());
}
