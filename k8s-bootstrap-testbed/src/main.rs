//! `k8s-bootstrap-testbed`: boot, list and remove the real test hosts by hand.
//!
//! ```text
//! k8s-bootstrap-testbed up 3     # boots kbtb1..3 = 10.77.0.11..13, prints how to ssh in
//! k8s-bootstrap-testbed list     # shows the running hosts
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
        _ => Err("usage: k8s-bootstrap-testbed up [N] | down | list".into()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
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
