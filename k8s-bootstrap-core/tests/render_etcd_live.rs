//! The rendered etcd config works, not only looks right: a 3-member cluster
//! on 127.0.0.1 (distinct ports) is rendered with [`EtcdCluster`], each
//! member is started from its rendered env file exactly as the rendered
//! unit does (`EnvironmentFile=` + a bare `ExecStart=etcd`), and the
//! rendered admin wrapper and health command show a healthy TLS cluster.
//! Then flannel's config is written through the rendered commands, v2 for
//! flannel 0.11 and v3 for flannel 0.26.
//!
//! Needs Debian's etcd 3.4 (`etcd-server`, `etcd-client`): fails without it.
//! Certificates come from the PKI module's `CertBundle`.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use k8s_bootstrap_core::etcd::{EtcdApi, EtcdCluster, EtcdMember};
use k8s_bootstrap_core::flannel::FlannelConfig;
use k8s_bootstrap_core::pki::{self, CertBundle};
use k8s_bootstrap_core::spec::Version;

mod pki_support;
use pki_support::{Procs, tool};


fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0)).unwrap().local_addr().unwrap().port()
}

/// Parses a systemd EnvironmentFile of `KEY="value"` lines.
fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("not KEY=value: {l}"));
            (k.to_string(), v.trim_matches('"').to_string())
        })
        .collect()
}

fn run(argv: &[String]) -> Output {
    Command::new(&argv[0]).args(&argv[1..]).output().unwrap_or_else(|e| panic!("cannot run {argv:?}: {e}"))
}

fn write(root: &Path, abs: &str, contents: &[u8], mode: u32) {
    let p = root.join(abs.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, contents).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn rendered_env_files_start_a_healthy_tls_cluster() {
    let etcd_bin = tool("etcd", "etcd-server");
    let etcdctl_bin = tool("etcdctl", "etcd-client");
    let tmp = tempfile::tempdir().unwrap();
    // Paths on the "host" are real paths inside the temp dir, so the rendered
    // files can be used as they are.
    let root = tmp.path().to_str().unwrap().to_string();
    let etcd_dir = format!("{root}/opt/etcd");
    let localhost = "127.0.0.1".parse().unwrap();
    let mut cluster = EtcdCluster::new(Version::new(3, 4, 23))
        .etcd_dir(&etcd_dir)
        .systemd_dir(format!("{root}/units"))
        .token("render-live-test")
        .enable_v2(true); // for flannel 0.11 below
    for i in 1..=3 {
        cluster = cluster.with_member(
            EtcdMember::new(format!("etcd0{i}"), localhost).ports(free_port(), free_port()).data_dir(format!("{root}/data/etcd0{i}")),
        );
    }

    // Certificates from the PKI bundle, in the files the render names.
    let issued = CertBundle::builder()
        .members(cluster.members.iter().map(|m| pki::EtcdMember::new(&m.name, ["127.0.0.1"])))
        .build()
        .unwrap()
        .generate()
        .unwrap();
    for f in &issued.files {
        write(Path::new("/"), &format!("{etcd_dir}/ssl/{}", f.path), &f.contents, f.mode);
    }
    std::fs::create_dir_all(format!("{etcd_dir}/bin")).unwrap();
    std::os::unix::fs::symlink(&etcdctl_bin, format!("{etcd_dir}/bin/etcdctl")).unwrap();

    let mut procs = Procs(Vec::new());
    for m in &cluster.members {
        let r = cluster.render_member(&m.name).unwrap();
        for f in &r.files {
            write(Path::new("/"), &f.path, &f.contents, f.mode);
        }
        for c in &r.certs {
            assert!(Path::new(&c.cert_path).is_file(), "the bundle has {}", c.cert_path);
        }
        let unit = r.file(&cluster.unit_file()).unwrap().text();
        assert!(unit.contains(&format!("\nExecStart={etcd_dir}/bin/etcd\n")));
        let env = parse_env_file(r.file(&cluster.env_file()).unwrap().text());
        let data_dir = &env.iter().find(|(k, _)| k == "ETCD_DATA_DIR").unwrap().1;
        std::fs::create_dir_all(data_dir).unwrap();
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let log = std::fs::File::create(format!("{root}/{}.log", m.name)).unwrap();
        let mut cmd = Command::new(&etcd_bin);
        for (k, _) in std::env::vars() {
            if k.starts_with("ETCD") {
                cmd.env_remove(k);
            }
        }
        // Like the unit: the environment file and no flags at all.
        let child = cmd.envs(env).stdout(Stdio::null()).stderr(log).spawn().expect("start etcd");
        procs.0.push(child);
    }

    // The rendered health command, through the rendered admin wrapper.
    let health = cluster.health_command().argv;
    assert_eq!(health[0], format!("{etcd_dir}/bin/etcdctl-admin"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let out = loop {
        let out = run(&health);
        // --cluster only checks members that have published their client
        // URLs: wait for all three, not only for a zero exit.
        let healthy = (String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)).matches("is healthy").count();
        if out.status.success() && healthy == 3 {
            break out;
        }
        for c in &mut procs.0 {
            if let Some(status) = c.try_wait().unwrap() {
                let logs: String = cluster.members.iter().map(|m| std::fs::read_to_string(format!("{root}/{}.log", m.name)).unwrap_or_default()).collect();
                panic!("an etcd member exited ({status}); logs:\n{logs}");
            }
        }
        assert!(Instant::now() < deadline, "not healthy after 60 s: {}", String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_millis(300));
    };
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(text.matches("is healthy").count(), 3, "{text}");
    assert!(text.contains("https://127.0.0.1:"), "{text}");
    let members = run(&[format!("{etcd_dir}/bin/etcdctl-admin"), "member".into(), "list".into()]);
    assert_eq!(String::from_utf8_lossy(&members.stdout).lines().count(), 3);

    // No client cert: refused (client-cert-auth is on).
    let ep = format!("https://127.0.0.1:{}", cluster.members[0].client_port.unwrap());
    let anon = Command::new(&etcdctl_bin)
        .env("ETCDCTL_API", "3")
        .args([format!("--endpoints={ep}"), format!("--cacert={etcd_dir}/ssl/ca.pem"), "--dial-timeout=2s".into(), "--command-timeout=3s".into(), "get".into(), "x".into()])
        .output()
        .unwrap();
    assert!(!anon.status.success(), "a client without a cert must be refused");
    // No plaintext listener.
    let plain = Command::new(&etcdctl_bin)
        .env("ETCDCTL_API", "3")
        .args([format!("--endpoints=http://127.0.0.1:{}", cluster.members[0].client_port.unwrap()), "--dial-timeout=2s".into(), "--command-timeout=3s".into(), "get".into(), "x".into()])
        .output()
        .unwrap();
    assert!(!plain.status.success(), "no plaintext client listener");

    // flannel 0.11: the rendered command writes the config through v2 ...
    let endpoints = cluster.client_endpoints();
    let old = FlannelConfig::new(Version::new(0, 11, 0)).etcd_endpoints(&endpoints);
    let set = old.config_command(&cluster);
    let check = set.check.clone().unwrap();
    assert!(!run(&check).status.success(), "the check fails before the write");
    let out = run(&set.argv);
    assert!(out.status.success(), "v2 set: {}", String::from_utf8_lossy(&out.stderr));
    assert!(run(&check).status.success(), "second run changes nothing: the check passes now");
    let v2get = run(&[cluster.etcdctl_wrapper(EtcdApi::V2), "get".into(), old.config_key()]);
    assert_eq!(String::from_utf8_lossy(&v2get.stdout).trim(), old.network_config_json());
    // ... where the v3 API does not see it (traps.md bug 7).
    let v3get = run(&[cluster.etcdctl_wrapper(EtcdApi::V3), "get".into(), "--print-value-only".into(), old.config_key()]);
    assert_eq!(String::from_utf8_lossy(&v3get.stdout).trim(), "");
    // flannel 0.26: through v3.
    let new = FlannelConfig::new(Version::new(0, 26, 1)).etcd_endpoints(&endpoints);
    let put = new.config_command(&cluster);
    assert!(run(&put.argv).status.success());
    assert!(run(&put.check.unwrap()).status.success());
    let v3get = run(&[cluster.etcdctl_wrapper(EtcdApi::V3), "get".into(), "--print-value-only".into(), new.config_key()]);
    assert_eq!(String::from_utf8_lossy(&v3get.stdout).trim(), new.network_config_json());
}

/// traps.md bug 2, live: etcd 3.4 refuses a setting given both as ETCD_* and as a flag.
#[test]
fn etcd_34_refuses_a_setting_given_twice() {
    let etcd_bin = tool("etcd", "etcd-server");
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(etcd_bin)
        .env("ETCD_NAME", "etcd01")
        .arg("--name=etcd01")
        .arg(format!("--data-dir={}", tmp.path().display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("conflicting environment variable \"ETCD_NAME\" is shadowed by corresponding command-line flag"), "{err}");
}
