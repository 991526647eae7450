//! The `hosts[].ssh` section of a spec: what is not given is left to
//! ssh_config, host key checking cannot be turned off, `proxy_jump` takes
//! OpenSSH's `ProxyJump` syntax.

use k8s_bootstrap_core::spec::{ClusterSpec, SshSpec};

fn load(ssh: &str) -> Result<ClusterSpec, Vec<(String, String, String)>> {
    let yaml = format!(
        "hosts:\n  - name: etcd01\n    address: 192.168.1.30\n    roles: [etcd]\n    ssh: {ssh}\nversions: {{ etcd: '3.5.17', flannel: '0.26.1' }}\n"
    );
    ClusterSpec::load(&yaml)
        .map(|(s, _)| s)
        .map_err(|e| e.problems().into_iter().map(|p| (p.path, p.value, p.rule)).collect())
}

#[test]
fn unset_values_stay_unset_for_ssh_config() {
    let s = load("{ identity: ~/.ssh/lab }").unwrap();
    let ssh = s.hosts[0].ssh.clone().unwrap();
    assert_eq!((ssh.user, ssh.port), (None, None));
    // and they are not written back either
    let yaml = serde_yaml_ng::to_string(&s.hosts[0]).unwrap();
    assert!(yaml.contains("identity: ~/.ssh/lab") && !yaml.contains("user") && !yaml.contains("port:"), "{yaml}");
    let s = load("{ user: deploy, port: 2222, proxy_jump: 'admin@bastion:2200,10.0.0.1' }").unwrap();
    assert_eq!(
        s.hosts[0].ssh,
        Some(SshSpec {
            user: Some("deploy".into()),
            port: Some(2222),
            proxy_jump: Some("admin@bastion:2200,10.0.0.1".into()),
            ..SshSpec::default()
        })
    );
}

#[test]
fn host_key_checking_cannot_be_turned_off_from_the_spec() {
    for off in ["off", "no", "none", "'false'", "'*'", "insecure"] {
        let p = load(&format!("{{ host_key: {off} }}")).unwrap_err();
        assert_eq!(p.len(), 1, "{off}: {p:?}");
        assert_eq!(p[0].0, "hosts[0].ssh.host_key", "{off}");
        assert!(p[0].2.contains("cannot be turned off"), "{off}: {p:?}");
    }
    let p = load("{ host_key: 'SHA256:short' }").unwrap_err();
    assert_eq!((p[0].0.as_str(), p[0].1.as_str()), ("hosts[0].ssh.host_key", "SHA256:short"));
    assert!(load("{ host_key: 'SHA256:thrKgDEHhpIztuM39PM3KfKOuoSRDPC+xeut9MAYpas' }").is_ok());
}

#[test]
fn bad_values_are_named() {
    let p = load("{ proxy_jump: 'bastion:99999' }").unwrap_err();
    assert_eq!((p[0].0.as_str(), p[0].1.as_str()), ("hosts[0].ssh.proxy_jump", "bastion:99999"));
    assert!(p[0].2.contains("port"), "{p:?}");
    assert!(load("{ proxy_jump: 'a b' }").is_err());
    assert!(load("{ proxy_jump: none }").is_ok());
    let p = load("{ port: 0, user: 'a b' }").unwrap_err();
    let paths: Vec<&str> = p.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(paths, ["hosts[0].ssh.port", "hosts[0].ssh.user"]);
}
