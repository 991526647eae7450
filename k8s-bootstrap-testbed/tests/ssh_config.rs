//! OpenSSH's conventions on 3 real test hosts (issue 13): an ssh_config file
//! (an alias, a host reached only through a jump host that is itself a test
//! host, patterns and first-wins, `Match`, `Include`, the spec's values
//! winning, `StrictHostKeyChecking no` refused) and known_hosts files (hashed
//! entries, `[host]:port` entries from `ssh-keyscan`, wildcards, `@revoked`,
//! `@cert-authority` with a real host certificate, a changed key).
//!
//! Needs root. One `#[test]`, one testbed; each scenario runs in its own task
//! so a failing one does not hide the others. Traffic goes only to the test
//! hosts (10.77.0.x). Host 3 drops SSH from this machine's bridge address
//! (an iptables rule inside its own network namespace, removed at the end
//! and gone with the namespace anyway), so it is reachable only through a
//! jump host. Host 2 also listens on port 2222 and presents a host
//! certificate signed by a CA made here.

mod common;
use common::{Scenario, run_scenarios};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_bootstrap_core::apply::{self, ConnectOptions, OpenError, OpenOptions};
use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, SshSpec, Version};
use k8s_bootstrap_core::transport::{
    Command, SshConfig, SshConfigError, SshConfigFile, SshOverrides, SshTransport, Transport, TransportError,
};
use k8s_bootstrap_testbed::{Host, Testbed};

struct Ctx {
    hosts: Vec<Host>,
    key: PathBuf,
    known_hosts: PathBuf,
    tmp: PathBuf,
    /// The test CA's public key line.
    ca: String,
    /// Another CA's public key line.
    other_ca: String,
}

impl Ctx {
    fn path(&self, name: &str) -> PathBuf {
        self.tmp.join(name)
    }

    /// Writes an ssh_config file (`{key}` and `{kh}` replaced), private to us as OpenSSH wants it.
    fn config(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        let text = text.replace("{key}", &self.key.to_string_lossy()).replace("{kh}", &self.known_hosts.to_string_lossy());
        std::fs::write(&p, text).unwrap();
        p
    }

    fn known_hosts_file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Lines of the testbed's known_hosts for `ip`.
    fn keys_of(&self, ip: &str) -> Vec<String> {
        std::fs::read_to_string(&self.known_hosts)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with(&format!("{ip} ")))
            .map(String::from)
            .collect()
    }

    /// Strict checking against `known_hosts` only, the test key, no agent.
    fn direct(&self, ip: &str, known_hosts: &Path) -> SshConfig {
        SshConfig::new(ip)
            .identity_file(&self.key)
            .known_hosts(known_hosts)
            .extra_known_hosts(Vec::<PathBuf>::new())
            .use_agent(false)
            .connect_timeout(Duration::from_secs(5))
    }
}

fn sh(argv: &[&str]) -> String {
    let out = std::process::Command::new(argv[0]).args(&argv[1..]).output().unwrap_or_else(|e| panic!("{}: {e}", argv[0]));
    assert!(out.status.success(), "{argv:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn hostname(cfg: SshConfig) -> Result<String, TransportError> {
    let t = SshTransport::connect(cfg).await?;
    Ok(t.run_ok(&Command::new(["hostname"])).await?.stdout_str().trim().to_string())
}

async fn run_hostname(t: &Arc<dyn Transport>) -> Result<String, TransportError> {
    Ok(t.run_ok(&Command::new(["hostname"])).await?.stdout_str().trim().to_string())
}

fn make_spec(hosts: &[(&str, &str, Option<SshSpec>)]) -> ClusterSpec {
    let hosts = hosts
        .iter()
        .map(|(name, ip, ssh)| {
            let mut h = HostSpec::new(*name, ip.parse().unwrap(), &[Role::Etcd]);
            h.ssh = ssh.clone();
            h
        })
        .collect();
    ClusterSpec::new(hosts, Version::new(3, 5, 17), Version::new(0, 26, 1))
}

// ---------------------------------------------------------------- scenarios

/// `Host etcd-a` -> HostName, User, IdentityFile, UserKnownHostsFile; first obtained value wins.
async fn alias(c: Arc<Ctx>) {
    let cfg = c.config(
        "alias",
        "# an alias, as in ~/.ssh/config\n\
         Host etcd-a\n  HostName 10.77.0.11\n  User root\n  IdentityFile {key}\n  UserKnownHostsFile {kh}\n\n\
         Host etcd-* kbtb?\n  User nosuchuser\n  Port 2999\n  HostName 10.77.0.250\n",
    );
    let file = SshConfigFile::load(&cfg).unwrap();
    let r = file.resolve("etcd-a", &SshOverrides::default()).unwrap();
    assert_eq!((r.ssh.host.as_str(), r.ssh.user.as_str(), r.ssh.port), ("10.77.0.11", "root", 2999));
    // Port came from the second block (nothing set it before): override it the way the spec would
    let given = SshOverrides { port: Some(22), ..SshOverrides::default() };
    let r = file.resolve("etcd-a", &given).unwrap();
    assert_eq!(r.ssh.identity_files, std::slice::from_ref(&c.key));
    assert_eq!(r.ssh.known_hosts.as_deref(), Some(c.known_hosts.as_path()));
    assert_eq!(hostname(r.ssh.use_agent(false)).await.unwrap(), "kbtb1");
}

/// Host 3 only through host 1 (and chains, and user@host:port).
async fn jump(c: Arc<Ctx>) {
    // direct: dropped inside host 3
    let start = Instant::now();
    let e = hostname(c.direct("10.77.0.13", &c.known_hosts).connect_timeout(Duration::from_secs(2))).await.unwrap_err();
    assert!(matches!(e, TransportError::ConnectTimeout { .. }), "host 3 must be unreachable directly: {e}");
    println!("jump: direct to 10.77.0.13: {e} after {:?}", start.elapsed());

    let cfg = c.config(
        "jump",
        "Host etcd-c\n  HostName 10.77.0.13\n  ProxyJump etcd-a\n\
         Host etcd-c2\n  HostName 10.77.0.13\n  ProxyJump etcd-a,10.77.0.12\n\
         Host etcd-c3\n  HostName 10.77.0.13\n  ProxyJump root@10.77.0.12:2222\n\
         Host etcd-a\n  HostName 10.77.0.11\n\
         Host *\n  User root\n  IdentityFile {key}\n  UserKnownHostsFile {kh}\n",
    );
    let file = SshConfigFile::load(&cfg).unwrap();
    let r = file.resolve("etcd-c", &SshOverrides::default()).unwrap();
    let j = r.ssh.proxy_jump.as_deref().unwrap();
    assert_eq!((j.host.as_str(), j.user.as_str()), ("10.77.0.11", "root"), "the jump host's own settings come from the file");
    assert_eq!(hostname(r.ssh).await.unwrap(), "kbtb3");
    // a chain: 11, then 12, then 13
    let r = file.resolve("etcd-c2", &SshOverrides::default()).unwrap();
    let j = r.ssh.proxy_jump.as_deref().unwrap();
    assert_eq!((j.host.as_str(), j.proxy_jump.as_deref().unwrap().host.as_str()), ("10.77.0.12", "10.77.0.11"));
    assert_eq!(hostname(r.ssh).await.unwrap(), "kbtb3");
    // user@host:port (host 2's second sshd port; its key recorded as [10.77.0.12]:2222)
    let kh = c.path("kh_with_2222");
    let mut text = std::fs::read_to_string(&c.known_hosts).unwrap();
    text.push_str(&sh(&["ssh-keyscan", "-p", "2222", "10.77.0.12"]));
    std::fs::write(&kh, text).unwrap();
    let given = SshOverrides { known_hosts: Some(kh), ..SshOverrides::default() };
    let r = file.resolve("etcd-c3", &given).unwrap();
    assert_eq!(r.ssh.proxy_jump.as_deref().unwrap().port, 2222);
    assert_eq!(hostname(r.ssh).await.unwrap(), "kbtb3");
}

/// A spec whose hosts take what the spec does not say from the file
/// (by name, by address, through Match and Include), and whose own values win.
async fn spec_and_file(c: Arc<Ctx>) {
    let kh = c.path("kh_spec");
    let mut text = std::fs::read_to_string(&c.known_hosts).unwrap();
    text.push_str(&sh(&["ssh-keyscan", "-p", "2222", "10.77.0.12"]));
    std::fs::write(&kh, text).unwrap();
    std::fs::create_dir_all(c.path("conf.d")).unwrap();
    std::fs::write(
        c.path("conf.d/50-defaults.conf"),
        format!("Host *\n  User root\n  IdentityFile {}\n  UserKnownHostsFile {}\n", c.key.display(), kh.display()),
    )
    .unwrap();
    let cfg = c.config(
        "spec",
        &format!(
            "Host etcd-a\n  User nosuchuser\n  Port 2999\n\
             Host etcd-c\n  ProxyJump 10.77.0.11\n\
             Match host 10.77.0.12\n  Port 2222\n\
             Match all\n  Include {}/conf.d/*.conf\n",
            c.tmp.display()
        ),
    );
    let spec = make_spec(&[
        ("etcd-a", "10.77.0.11", Some(SshSpec { user: Some("root".into()), port: Some(22), ..SshSpec::default() })),
        ("etcd-b", "10.77.0.12", None),
        ("etcd-c", "10.77.0.13", None),
    ]);
    let opts = ConnectOptions { ssh_config: Some(cfg.clone()), connect_timeout: Some(Duration::from_secs(5)), ..ConnectOptions::default() };
    let resolved = apply::ssh_configs(&spec, &opts).unwrap();
    let a = &resolved["etcd-a"].ssh;
    assert_eq!((a.user.as_str(), a.port), ("root", 22), "the spec's user and port win over the file");
    let b = &resolved["etcd-b"].ssh;
    assert_eq!((b.host.as_str(), b.port), ("10.77.0.12", 2222), "Match host on the address");
    assert_eq!(resolved["etcd-c"].ssh.proxy_jump.as_deref().unwrap().host, "10.77.0.11");
    assert_eq!(resolved["etcd-c"].ssh.connect_timeout, Duration::from_secs(5));
    assert_eq!(resolved["etcd-c"].ssh.proxy_jump.as_deref().unwrap().connect_timeout, Duration::from_secs(5), "options reach jump hosts");
    let hosts = apply::connect(&spec, &opts).await;
    let mut names = Vec::new();
    for (name, t) in &hosts {
        names.push(run_hostname(t).await.unwrap_or_else(|e| panic!("{name}: {e}")));
    }
    assert_eq!(names, ["kbtb1", "kbtb2", "kbtb3"]);

    // the spec's proxy_jump wins over the file's ProxyJump
    let spec2 = make_spec(&[("etcd-c", "10.77.0.13", Some(SshSpec { proxy_jump: Some("root@10.77.0.12".into()), ..SshSpec::default() }))]);
    let resolved = apply::ssh_configs(&spec2, &opts).unwrap();
    let j = resolved["etcd-c"].ssh.proxy_jump.as_deref().unwrap();
    assert_eq!((j.host.as_str(), j.port), ("10.77.0.12", 2222), "the jump host's port comes from the file's Match");
    let hosts = apply::connect(&spec2, &opts).await;
    assert_eq!(run_hostname(&hosts["etcd-c"]).await.unwrap(), "kbtb3");
}

/// `StrictHostKeyChecking no`: refused with file, line and value, before anything is done.
async fn checking_off_refused(c: Arc<Ctx>) {
    let cfg = c.config(
        "off",
        "Host etcd-a\n  StrictHostKeyChecking yes\n\
         Host *\n  User root\n  IdentityFile {key}\n  UserKnownHostsFile {kh}\n  StrictHostKeyChecking no\n",
    );
    let opts = ConnectOptions { ssh_config: Some(cfg.clone()), ..ConnectOptions::default() };
    // first obtained value wins: etcd-a is checked, so it connects
    let ok = make_spec(&[("etcd-a", "10.77.0.11", None)]);
    assert_eq!(run_hostname(&apply::connect(&ok, &opts).await["etcd-a"]).await.unwrap(), "kbtb1");
    let both = make_spec(&[("etcd-a", "10.77.0.11", None), ("etcd-b", "10.77.0.12", None)]);
    let e = apply::ssh_configs(&both, &opts).unwrap_err();
    match &e {
        SshConfigError::Line { file, line, keyword, value, problem } => {
            assert_eq!((file, *line, keyword.as_str(), value.as_str()), (&cfg, 7, "StrictHostKeyChecking", "no"));
            assert!(problem.contains("always checks host keys"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
    println!("checking off: {e}");
    // open() refuses before the PKI folder is touched
    let pki = c.path("pki-never-written");
    let mut o = OpenOptions::new(&pki);
    o.connect = opts.clone();
    assert!(matches!(apply::open(&both, &o).await, Err(OpenError::SshConfig(_))));
    assert!(!pki.exists());
    // connect(): every host fails with it, none is contacted
    let hosts = apply::connect(&both, &opts).await;
    let e = run_hostname(&hosts["etcd-a"]).await.unwrap_err();
    assert!(matches!(&e, TransportError::InvalidInput { reason } if reason.contains("StrictHostKeyChecking no")), "{e}");
    // an explicit choice of the program (accept new keys) wins over the file's value
    let tofu = ConnectOptions { accept_new_host_keys: true, ..opts.clone() };
    let hosts = apply::connect(&both, &tofu).await;
    assert_eq!(run_hostname(&hosts["etcd-b"]).await.unwrap(), "kbtb2");
}

/// Hashed entries, `[host]:port` entries from ssh-keyscan, wildcards and
/// negation, `@revoked`, and a changed key.
async fn known_hosts(c: Arc<Ctx>) {
    // hashed by ssh-keygen -H
    let hashed = c.known_hosts_file("kh_hashed", &(c.keys_of("10.77.0.11").join("\n") + "\n"));
    sh(&["ssh-keygen", "-q", "-H", "-f", &hashed.to_string_lossy()]);
    let text = std::fs::read_to_string(&hashed).unwrap();
    assert!(text.lines().all(|l| l.starts_with("|1|")) && !text.contains("10.77.0.11"), "{text}");
    assert_eq!(hostname(c.direct("10.77.0.11", &hashed)).await.unwrap(), "kbtb1");
    // [host]:port, as ssh-keyscan prints it, plain and hashed
    let scan = sh(&["ssh-keyscan", "-p", "2222", "10.77.0.12"]);
    assert!(scan.lines().any(|l| l.starts_with("[10.77.0.12]:2222 ")), "{scan}");
    let bracket = c.known_hosts_file("kh_bracket", &scan);
    assert_eq!(hostname(c.direct("10.77.0.12", &bracket).port(2222)).await.unwrap(), "kbtb2");
    let scan_h = sh(&["ssh-keyscan", "-H", "-p", "2222", "10.77.0.12"]);
    let bracket_h = c.known_hosts_file("kh_bracket_hashed", &scan_h);
    assert_eq!(hostname(c.direct("10.77.0.12", &bracket_h).port(2222)).await.unwrap(), "kbtb2");
    // an entry for port 22 says nothing about port 2222
    let port22 = c.known_hosts_file("kh_port22", &(c.keys_of("10.77.0.12").join("\n") + "\n"));
    let e = hostname(c.direct("10.77.0.12", &port22).port(2222)).await.unwrap_err();
    assert!(matches!(e, TransportError::HostKeyUnknown { .. }), "{e}");
    // wildcards, comma lists and negation
    let h1 = c.keys_of("10.77.0.11");
    let with_hosts = |hosts: &str| h1.iter().map(|l| format!("{hosts} {}\n", l.split_once(' ').unwrap().1)).collect::<String>();
    let wild = c.known_hosts_file("kh_wild", &with_hosts("etcd-a,10.77.0.1?"));
    assert_eq!(hostname(c.direct("10.77.0.11", &wild)).await.unwrap(), "kbtb1");
    let negated = c.known_hosts_file("kh_negated", &with_hosts("10.77.0.*,!10.77.0.11"));
    let e = hostname(c.direct("10.77.0.11", &negated)).await.unwrap_err();
    assert!(matches!(e, TransportError::HostKeyUnknown { .. }), "{e}");
    // @revoked: refused although the key is also listed as known
    let ed25519 = h1.iter().find(|l| l.contains("ssh-ed25519")).unwrap().split_once(' ').unwrap().1;
    let revoked = c.known_hosts_file("kh_revoked", &format!("{}@revoked * {ed25519}\n", with_hosts("10.77.0.11")));
    let e = hostname(c.direct("10.77.0.11", &revoked)).await.unwrap_err();
    assert!(matches!(&e, TransportError::HostKeyRejected { reason, .. } if reason.contains("@revoked") && reason.contains("line 4")), "{e}");
    assert!(!e.is_retryable());
    println!("revoked: {e}");
    // a changed key: host 2's keys recorded for host 1
    let changed = c.known_hosts_file(
        "kh_changed",
        &c.keys_of("10.77.0.12").iter().map(|l| format!("10.77.0.11 {}\n", l.split_once(' ').unwrap().1)).collect::<String>(),
    );
    let e = hostname(c.direct("10.77.0.11", &changed)).await.unwrap_err();
    assert!(matches!(e, TransportError::HostKeyMismatch { .. }), "{e}");
    println!("changed: {e}");
}

/// A host certificate (host 2) checked against `@cert-authority`, never taken for its plain key.
async fn certificates(c: Arc<Ctx>) {
    let trusted = c.known_hosts_file("kh_ca", &format!("@cert-authority 10.77.0.*,[10.77.0.*]:* {}\n", c.ca));
    assert_eq!(hostname(c.direct("10.77.0.12", &trusted)).await.unwrap(), "kbtb2");
    assert_eq!(hostname(c.direct("10.77.0.12", &trusted).port(2222)).await.unwrap(), "kbtb2");
    // a host without a certificate presents its plain key, which this file does not know
    let e = hostname(c.direct("10.77.0.11", &trusted)).await.unwrap_err();
    assert!(matches!(e, TransportError::HostKeyUnknown { .. }), "{e}");
    // another CA: refused, even though the plain key inside the certificate is recorded too
    let plain: String = c.keys_of("10.77.0.12").iter().map(|l| format!("{l}\n")).collect();
    let other = c.known_hosts_file("kh_other_ca", &format!("{plain}@cert-authority 10.77.0.12 {}\n", c.other_ca));
    let e = hostname(c.direct("10.77.0.12", &other)).await.unwrap_err();
    match &e {
        TransportError::HostKeyRejected { reason, .. } => {
            assert!(reason.contains("no @cert-authority line") && reason.contains("never accepted as the plain key"), "{reason}")
        }
        other => panic!("expected HostKeyRejected, got {other}"),
    }
    println!("certificate from an untrusted CA: {e}");
    // a revoked CA
    let revoked = c.known_hosts_file("kh_ca_revoked", &format!("@cert-authority * {ca}\n@revoked * {ca}\n", ca = c.ca));
    let e = hostname(c.direct("10.77.0.12", &revoked)).await.unwrap_err();
    assert!(matches!(&e, TransportError::HostKeyRejected { reason, .. } if reason.contains("@revoked")), "{e}");
}

/// `IdentitiesOnly yes`: the agent's keys that are not identity files are not offered.
async fn identities_only(c: Arc<Ctx>) {
    let agent_key = c.path("agent_key");
    sh(&["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", &agent_key.to_string_lossy()]);
    let pubkey = std::fs::read_to_string(agent_key.with_extension("pub")).unwrap();
    let ak = c.hosts[0].root.join("root/.ssh/authorized_keys");
    let mut cur = std::fs::read_to_string(&ak).unwrap();
    cur.push_str(&pubkey);
    std::fs::write(&ak, cur).unwrap();
    let sock = c.path("agent.sock");
    let mut agent = std::process::Command::new("ssh-agent").args(["-D", "-a"]).arg(&sock).stdout(std::process::Stdio::null()).spawn().unwrap();
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let added = std::process::Command::new("ssh-add").arg(&agent_key).env("SSH_AUTH_SOCK", &sock).output().unwrap();
    let absent = c.path("no-such-key");
    let cfg = |only: &str| {
        c.config(
            &format!("ids_{only}"),
            &format!("Host 10.77.0.11\n  User root\n  IdentityFile {}\n  IdentitiesOnly {only}\n  UserKnownHostsFile {{kh}}\n", absent.display()),
        )
    };
    let resolve = |p: PathBuf| SshConfigFile::load(p).unwrap().resolve("10.77.0.11", &SshOverrides::default()).unwrap().ssh.agent_socket(&sock);
    let with_agent = hostname(resolve(cfg("no"))).await;
    let only = hostname(resolve(cfg("yes"))).await;
    let _ = agent.kill(); // our own child, by its handle
    let _ = agent.wait();
    assert!(added.status.success(), "ssh-add: {}", String::from_utf8_lossy(&added.stderr));
    assert_eq!(with_agent.unwrap(), "kbtb1");
    let e = only.unwrap_err();
    assert!(matches!(e, TransportError::Auth { .. }), "{e}");
}

// ---------------------------------------------------------------- setup

/// Host 2: a second sshd port and a host certificate; returns the CA's public key line.
fn certify_and_listen_on_2222(h: &Host, tmp: &Path) -> String {
    let ca = tmp.join("host_ca");
    sh(&["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test-host-ca", "-f", &ca.to_string_lossy()]);
    let host_pub = h.root.join("etc/ssh/ssh_host_ed25519_key.pub");
    sh(&["ssh-keygen", "-q", "-s", &ca.to_string_lossy(), "-I", &h.name, "-h", "-n", &h.ip.to_string(), "-V", "-5m:+2h", &host_pub.to_string_lossy()]);
    std::fs::write(
        h.root.join("etc/ssh/sshd_config.d/kbtb-ssh-config-test.conf"),
        "Port 22\nPort 2222\nHostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub\n",
    )
    .unwrap();
    h.sh("systemctl restart ssh").unwrap();
    let t = Instant::now();
    while TcpStream::connect_timeout(&(h.ip, 2222).into(), Duration::from_millis(300)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(20), "sshd on {}:2222 did not come up", h.ip);
        std::thread::sleep(Duration::from_millis(100));
    }
    let line = std::fs::read_to_string(ca.with_extension("pub")).unwrap();
    line.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

/// Drops SSH from this machine's bridge address inside host 3's own network
/// namespace, until dropped (the namespace goes at teardown anyway).
struct OnlyViaJump<'a>(&'a Host);

const DROP_RULE: &str = "INPUT -s 10.77.0.1 -p tcp --dport 22 -j DROP";

impl<'a> OnlyViaJump<'a> {
    fn new(h: &'a Host) -> Self {
        h.sh(&format!("iptables -I {DROP_RULE}")).unwrap();
        OnlyViaJump(h)
    }
}

impl Drop for OnlyViaJump<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.sh(&format!("iptables -D {DROP_RULE}")) {
            eprintln!("removing the iptables rule in {}: {e}", self.0.name);
        }
    }
}

#[test]
fn ssh_config_and_known_hosts_on_three_real_hosts() {
    let tb = Testbed::up(3).unwrap_or_else(|e| {
        panic!("cannot start the test hosts (this test needs root and the tools listed in k8s-bootstrap-testbed's docs): {e}")
    });
    let tmp = tempfile::tempdir().unwrap();
    let hosts = tb.hosts().to_vec();
    let ca = certify_and_listen_on_2222(&hosts[1], tmp.path());
    let other = tmp.path().join("other_ca");
    sh(&["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", &other.to_string_lossy()]);
    let other_ca = std::fs::read_to_string(other.with_extension("pub")).unwrap().split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let blocked = OnlyViaJump::new(&hosts[2]);
    let ctx = Arc::new(Ctx {
        hosts: hosts.clone(),
        key: tb.client_key(),
        known_hosts: tb.known_hosts(),
        tmp: tmp.path().to_path_buf(),
        ca,
        other_ca,
    });
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let scenarios: Vec<(&str, Scenario<Ctx>)> = vec![
        ("alias", |c| Box::pin(alias(c))),
        ("jump", |c| Box::pin(jump(c))),
        ("spec_and_file", |c| Box::pin(spec_and_file(c))),
        ("checking_off_refused", |c| Box::pin(checking_off_refused(c))),
        ("known_hosts", |c| Box::pin(known_hosts(c))),
        ("certificates", |c| Box::pin(certificates(c))),
        ("identities_only", |c| Box::pin(identities_only(c))),
    ];
    let failed = run_scenarios(&rt, &ctx, &scenarios, Duration::from_secs(120));
    drop(rt);
    drop(blocked);
    tb.down().expect("teardown");
    assert!(failed.is_empty(), "failed scenarios: {failed:#?}");
}
