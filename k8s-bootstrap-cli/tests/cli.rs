//! The binary, driven as a user would, on every command that needs no host:
//! exit codes (0 ok, 1 failed, 2 invalid input), messages that name the
//! field and value, no file written when input is invalid, no color or
//! control characters when piped, and no private key in any output.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn kb(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("k8s-bootstrap").unwrap();
    c.current_dir(dir).env_remove("K8S_BOOTSTRAP_SPEC").env_remove("RUST_LOG").env_remove("NO_COLOR");
    c
}

fn tutorial(dir: &Path) {
    kb(dir).args(["init", "--preset", "tutorial"]).assert().success();
}

fn json(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(out)))
}

fn no_control_chars(out: &[u8]) {
    let text = String::from_utf8_lossy(out);
    assert!(!text.chars().any(|c| c.is_control() && c != '\n' && c != '\t'), "control characters in piped output: {text:?}");
}

#[test]
fn init_writes_a_valid_commented_spec_and_never_overwrites() {
    let d = tempfile::tempdir().unwrap();
    kb(d.path()).arg("init").assert().code(2).stderr(predicate::str::contains("--host NAME=ADDR"));
    assert!(!d.path().join("cluster.yaml").exists());
    tutorial(d.path());
    let first = std::fs::read_to_string(d.path().join("cluster.yaml")).unwrap();
    assert!(first.contains("# name: host name and etcd member name"));
    std::fs::write(d.path().join("cluster.yaml"), "edited by hand\n").unwrap();
    kb(d.path()).args(["init", "--preset", "tutorial"]).assert().code(2).stderr(predicate::str::contains("exists; pass --force"));
    assert_eq!(std::fs::read_to_string(d.path().join("cluster.yaml")).unwrap(), "edited by hand\n");
    kb(d.path()).args(["init", "--preset", "tutorial", "--force"]).assert().success();
    assert_eq!(std::fs::read_to_string(d.path().join("cluster.yaml")).unwrap(), first);
    kb(d.path()).arg("validate").assert().success().stdout(predicate::str::contains("valid (3 hosts"));

    kb(d.path())
        .args(["init", "--out", "mine.yaml", "--host", "a1=10.1.0.1", "--host", "a2=10.1.0.2", "--host", "w1=10.1.0.9:node"])
        .assert()
        .success();
    let out = kb(d.path()).args(["validate", "--spec", "mine.yaml", "--output", "json"]).assert().success().get_output().stdout.clone();
    assert_eq!(json(&out)["valid"], true);
    // Hosts on 10.0.0.x (where the tutorial put its service range) still give a valid spec.
    kb(d.path()).args(["init", "--out", "ten.yaml", "--host", "etcd01=10.0.0.1"]).assert().success();
    kb(d.path()).args(["validate", "--spec", "ten.yaml"]).assert().success();
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    let d = tempfile::tempdir().unwrap();
    tutorial(d.path());
    kb(d.path()).args(["certs", "generate"]).assert().success();
    let bin = assert_cmd::cargo::cargo_bin("k8s-bootstrap");
    for cmd in ["certs check-expiration", "completion bash", "render --out r"] {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("'{}' {cmd} | true", bin.display()))
            .current_dir(d.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{cmd}: {err}");
    }
}

#[test]
fn init_with_bad_hosts_names_the_flag_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    kb(d.path())
        .args(["init", "--host", "etcd01=10.0.0.300"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--host").and(predicate::str::contains("etcd01=10.0.0.300")));
    kb(d.path())
        .args(["init", "--host", "etcd01=10.0.0.1", "--host", "etcd01=10.0.0.2"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("hosts[1].name"));
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0, "nothing written");
}

#[test]
fn validate_reports_missing_malformed_unknown_and_every_invalid_value() {
    let d = tempfile::tempdir().unwrap();
    kb(d.path()).arg("validate").assert().code(2).stderr(predicate::str::contains("cannot read spec cluster.yaml"));
    kb(d.path()).arg("plan").assert().code(2).stderr(predicate::str::contains("k8s-bootstrap init"));

    std::fs::write(d.path().join("cluster.yaml"), "hosts:\n  - name: a\n   address: [\n").unwrap();
    let a = kb(d.path()).arg("validate").assert().code(2);
    assert!(String::from_utf8_lossy(&a.get_output().stdout).contains("line "), "{:?}", a.get_output());

    kb(d.path()).args(["init", "--preset", "tutorial", "--force"]).assert().success();
    let spec = std::fs::read_to_string(d.path().join("cluster.yaml")).unwrap();
    std::fs::write(d.path().join("cluster.yaml"), spec.replace("client_port: 2379", "client_prot: 2379")).unwrap();
    kb(d.path()).arg("validate").assert().code(2).stdout(predicate::str::contains("etcd").and(predicate::str::contains("client_prot")));

    let bad = spec.replace("subnet_len: 24", "subnet_len: 31").replace("etcd: \"3.3.13\"", "etcd: \"3.9.0\"").replace("192.168.1.31", "192.168.1.30");
    std::fs::write(d.path().join("cluster.yaml"), &bad).unwrap();
    let out = kb(d.path()).args(["validate", "--output", "json"]).assert().code(2).get_output().stdout.clone();
    let v = json(&out);
    assert_eq!(v["valid"], false);
    let paths: Vec<&str> = v["problems"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
    for want in ["network.subnet_len", "versions.etcd", "hosts[1].address"] {
        assert!(paths.contains(&want), "{want} missing from {paths:?}");
    }
    let text = kb(d.path()).arg("validate").assert().code(2).get_output().stdout.clone();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("value: 31") && text.contains("fix:   use 24") && text.contains("(line "), "{text}");
    // No command writes anything from an invalid spec.
    kb(d.path()).args(["certs", "generate"]).assert().code(2);
    kb(d.path()).args(["render", "--out", "r"]).assert().code(2);
    kb(d.path()).arg("plan").assert().code(2);
    assert!(!d.path().join("pki").exists() && !d.path().join("r").exists());
}

#[test]
fn spec_path_from_environment() {
    let d = tempfile::tempdir().unwrap();
    kb(d.path()).args(["init", "--preset", "tutorial", "--out", "elsewhere.yaml"]).assert().success();
    kb(d.path()).arg("validate").env("K8S_BOOTSTRAP_SPEC", "elsewhere.yaml").assert().success();
}

#[test]
fn certs_generate_check_renew() {
    let d = tempfile::tempdir().unwrap();
    tutorial(d.path());
    let out = kb(d.path()).args(["certs", "check-expiration", "--output", "json"]).assert().code(1).get_output().stdout.clone();
    assert!(json(&out)["certificates"].as_array().unwrap().iter().all(|c| c["state"] == "missing"));

    // Trace logging on: still no private key anywhere in the output.
    let a = kb(d.path()).args(["certs", "generate", "-vvv"]).env("RUST_LOG", "trace").assert().success();
    let o = a.get_output();
    for s in [&o.stdout, &o.stderr] {
        assert!(!String::from_utf8_lossy(s).contains("PRIVATE KEY"));
        no_control_chars(s);
    }
    let pki = d.path().join("pki");
    let mode = |f: &str| std::fs::metadata(pki.join(f)).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode("ca-key.pem"), mode("etcd02-peer-key.pem"), mode("ca.pem")), (0o600, 0o600, 0o644));

    let out = kb(d.path()).args(["certs", "check-expiration", "--output", "json"]).assert().success().get_output().stdout.clone();
    let v = json(&out);
    let certs = v["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 9);
    assert!(certs.iter().all(|c| c["state"] == "ok" && c["days_left"].as_i64().unwrap() >= 364), "{v}");
    kb(d.path()).args(["certs", "check-expiration"]).assert().success().stdout(predicate::str::contains("RESIDUAL TIME").and(predicate::str::contains("etcd03-peer")));

    let admin = std::fs::read(pki.join("admin.pem")).unwrap();
    let server = std::fs::read(pki.join("etcd01-server.pem")).unwrap();
    kb(d.path()).args(["certs", "generate"]).assert().success().stdout(predicate::str::contains("0 issued"));
    kb(d.path()).args(["certs", "renew", "admin"]).assert().success().stdout(predicate::str::contains("1 issued"));
    assert_ne!(std::fs::read(pki.join("admin.pem")).unwrap(), admin);
    assert_eq!(std::fs::read(pki.join("etcd01-server.pem")).unwrap(), server);
    kb(d.path()).args(["certs", "renew", "etcd09-server"]).assert().code(2).stderr(predicate::str::contains("etcd09-server").and(predicate::str::contains("etcd01-server")));
    kb(d.path()).args(["certs", "renew", "ca"]).assert().code(2).stderr(predicate::str::contains("CA is not renewed"));
    kb(d.path()).args(["certs", "renew"]).assert().code(2);
    kb(d.path()).args(["certs", "renew", "--all", "--dry-run"]).assert().success().stdout(predicate::str::contains("8 would be issued"));
    assert_eq!(std::fs::read(pki.join("etcd01-server.pem")).unwrap(), server);
}

#[test]
fn render_writes_every_host_and_is_idempotent() {
    let d = tempfile::tempdir().unwrap();
    tutorial(d.path());
    kb(d.path()).args(["render", "--out", "out"]).assert().success().stdout(predicate::str::contains("0 unchanged"));
    let env = std::fs::read_to_string(d.path().join("out/etcd02/opt/etcd/cfg/etcd")).unwrap();
    assert!(env.contains("ETCD_NAME=\"etcd02\"") && env.contains("https://192.168.1.31:2380"), "{env}");
    assert!(d.path().join("out/etcd03/commands.sh").exists());
    kb(d.path()).args(["render", "--out", "out"]).assert().success().stdout(predicate::str::contains("0 written"));
}

#[test]
fn etcd_member_edits_keep_comments_and_refuse_bad_input() {
    let d = tempfile::tempdir().unwrap();
    tutorial(d.path());
    let spec = d.path().join("cluster.yaml");
    kb(d.path()).args(["etcd", "add-member", "etcd04=192.168.1.33", "--no-apply"]).assert().success();
    let grown = std::fs::read_to_string(&spec).unwrap();
    assert!(grown.contains("name: etcd04") && grown.contains("# name: host name and etcd member name"));
    kb(d.path()).args(["etcd", "add-member", "etcd04=192.168.1.34", "--no-apply"]).assert().code(2).stderr(predicate::str::contains("etcd04"));
    // The core parses NAME=ADDR[:ROLES]; clap names the argument it came from.
    kb(d.path()).args(["etcd", "add-member", "etcd05", "--no-apply"]).assert().code(2).stderr(predicate::str::contains("<NAME=ADDR[:ROLES]>").and(predicate::str::contains("host = etcd05")));
    assert_eq!(std::fs::read_to_string(&spec).unwrap(), grown, "a refused edit leaves the spec as it was");
    kb(d.path()).args(["etcd", "remove-member", "etcd09", "--no-apply"]).assert().code(2).stderr(predicate::str::contains("etcd09"));
    kb(d.path()).args(["etcd", "remove-member", "etcd04", "--no-apply"]).assert().success().stderr(predicate::str::contains("removed the host"));
    kb(d.path()).args(["etcd", "remove-member", "etcd02", "--no-apply"]).assert().success().stderr(predicate::str::contains("dropped its etcd role"));
    let out = kb(d.path()).args(["validate", "--output", "json"]).assert().success();
    no_control_chars(&out.get_output().stdout);
}

#[test]
fn unreachable_host_fails_with_exit_1_and_says_what_to_do() {
    let d = tempfile::tempdir().unwrap();
    kb(d.path()).args(["init", "--host", "etcd01=127.0.0.1"]).assert().success();
    let spec = std::fs::read_to_string(d.path().join("cluster.yaml")).unwrap();
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    std::fs::write(d.path().join("cluster.yaml"), spec.replace("port: 22", "port: 1")).unwrap();
    let a = kb(d.path()).args(["plan", "--connect-timeout", "3"]).assert().code(1);
    let out = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(out.contains("etcd01") && out.contains("(connect)") && out.contains("next: check that the hosts are up"), "{out}");
    let a = kb(d.path()).args(["plan", "--connect-timeout", "3", "--output", "json"]).assert().code(1);
    let v = json(&a.get_output().stdout);
    assert_eq!(v["hosts"]["etcd01"]["failed"]["kind"], "connect");
}

#[test]
fn usage_errors_exit_2() {
    let d = tempfile::tempdir().unwrap();
    tutorial(d.path());
    kb(d.path()).arg("frobnicate").assert().code(2);
    kb(d.path()).args(["apply", "--only", "nosuch"]).assert().code(2).stderr(predicate::str::contains("no host \"nosuch\""));
    kb(d.path()).args(["apply", "--phase", "nosuch"]).assert().code(2).stderr(predicate::str::contains("--phase"));
    kb(d.path()).args(["apply", "--concurrency", "0"]).assert().code(2);
    // The core's rule, named by the flag: no connect timeout of 0.
    kb(d.path()).args(["plan", "--connect-timeout", "0"]).assert().code(2).stderr(predicate::str::contains("--connect-timeout = 0: must be a positive number of seconds"));
    // An OpenSSH config file that cannot be used is invalid input too (the core's classification).
    std::fs::write(d.path().join("bad_ssh_config"), "Host *\n  StrictHostKeyChecking no\n").unwrap();
    kb(d.path()).args(["plan", "-F", "bad_ssh_config"]).assert().code(2).stderr(predicate::str::contains("StrictHostKeyChecking no"));
    kb(d.path()).args(["-v", "-q", "validate"]).assert().code(2);
}

#[test]
fn completion_and_version() {
    let d = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        kb(d.path()).args(["completion", shell]).assert().success().stdout(predicate::str::contains("k8s-bootstrap"));
    }
    kb(d.path()).args(["completion", "tcsh"]).assert().code(2);
    kb(d.path()).arg("version").assert().success().stdout(predicate::str::contains("etcd:    3.3 to 3.7"));
    let v = json(&kb(d.path()).args(["version", "--output", "json"]).assert().success().get_output().stdout);
    assert_eq!(v["flannel"]["max"], "0.28");
    kb(d.path()).arg("--version").assert().success().stdout(predicate::str::starts_with("k8s-bootstrap "));
}
