//! `k8s-bootstrap-testbed`: boot, list and remove the real test hosts by hand.
//!
//! ```text
//! k8s-bootstrap-testbed up 3     # boots kbtb1..3 = 10.77.0.11..13, prints how to ssh in
//! k8s-bootstrap-testbed list     # shows the running hosts
//! k8s-bootstrap-testbed tutorial v3  # the tutorial's etcd, by hand, on the first 3 hosts (v2: its config via the v2 API)
//! k8s-bootstrap-testbed down     # kills them by PID, removes namespaces, mounts, bridge
//! ```
//! Ctrl-C during `up` tears down what was started.

use std::process::ExitCode;

use k8s_bootstrap_testbed::{Testbed, read_state, state_dir, teardown_dir};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["up", n] => match n.parse() {
            Ok(n) => up(n),
            Err(_) => Err(format!("not a number: {n}")),
        },
        ["up"] => up(3),
        ["tutorial", api] => tutorial(api),
        ["down"] => teardown_dir(&state_dir()).map_err(|e| e.to_string()),
        ["list"] => {
            let dir = state_dir();
            let hosts = read_state(&dir);
            if hosts.is_empty() {
                println!("no test hosts");
            }
            for h in hosts {
                println!(
                    "{}\t{}\tnetns={}\tpid={}\troot={}",
                    h.name,
                    h.ip,
                    h.netns,
                    h.pid,
                    h.root.display()
                );
            }
            Ok(())
        }
        _ => Err("usage: k8s-bootstrap-testbed up [N] | down | list | tutorial v2|v3".into()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Builds the tutorial's etcd cluster by hand on the running testbed's
/// first three hosts ([`k8s_bootstrap_testbed::tutorial`]); cfssl's files
/// (the CA key too) stay in `<state dir>/tutorial-certs`.
fn tutorial(api: &str) -> Result<(), String> {
    use k8s_bootstrap_testbed::tutorial::{ConfigApi, build_etcd};
    let api = match api {
        "v2" => ConfigApi::V2,
        "v3" => ConfigApi::V3,
        other => return Err(format!("tutorial takes v2 or v3, not {other:?}")),
    };
    let dir = state_dir();
    let hosts = read_state(&dir);
    if hosts.len() < 3 {
        return Err(format!("the tutorial needs 3 running test hosts, {} are up (k8s-bootstrap-testbed up 3)", hosts.len()));
    }
    let certs = build_etcd(&hosts[..3], api).map_err(|e| e.to_string())?;
    let keep = dir.join("tutorial-certs");
    std::fs::create_dir_all(&keep).map_err(|e| format!("{}: {e}", keep.display()))?;
    for e in std::fs::read_dir(certs.path()).map_err(|e| e.to_string())?.flatten() {
        std::fs::copy(e.path(), keep.join(e.file_name())).map_err(|err| format!("{}: {err}", e.path().display()))?;
    }
    println!("the tutorial's etcd runs on {}; cfssl's files in {}", hosts[..3].iter().map(|h| h.ip.to_string()).collect::<Vec<_>>().join(", "), keep.display());
    Ok(())
}

fn up(n: usize) -> Result<(), String> {
    let hosts = Testbed::up_manual(n).map_err(|e| e.to_string())?;
    let dir = state_dir();
    for h in &hosts {
        println!("{}\t{}\tpid={}", h.name, h.ip, h.pid);
    }
    println!(
        "ssh: ssh -i {d}/id_ed25519 -o UserKnownHostsFile={d}/known_hosts root@{ip}\nremove with: k8s-bootstrap-testbed down",
        d = dir.display(),
        ip = hosts[0].ip
    );
    Ok(())
}
