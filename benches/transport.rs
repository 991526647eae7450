//! SshTransport (russh) vs the OpenSSH client on real test hosts.
//!
//! Needs root (boots 3 test hosts with k8s-bootstrap-testbed; fails loudly
//! otherwise). Run: `cargo bench -p k8s-bootstrap-benches --bench transport`.
//!
//! - `round_trip/*`: one `true` on one host. russh over its one open
//!   connection vs OpenSSH over a ControlMaster connection (the fairest
//!   OpenSSH equivalent), plus both with a new connection per command.
//! - `three_hosts_parallel/*`: one `true` on each of 3 hosts at once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Proc, Stdio};
use std::time::Duration;

use criterion::Criterion;
use k8s_bootstrap_core::transport::{Command, SshConfig, SshTransport, Transport};
use k8s_bootstrap_testbed::Testbed;

fn ssh_args(key: &Path, kh: &Path) -> Vec<String> {
    vec![
        "-i".into(),
        key.display().to_string(),
        "-o".into(),
        format!("UserKnownHostsFile={}", kh.display()),
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        "IdentitiesOnly=yes".into(),
    ]
}

fn openssh(args: &[String], extra: &[&str], host: &str) -> Proc {
    let mut p = Proc::new("ssh");
    p.args(args)
        .args(extra)
        .arg(format!("root@{host}"))
        .stdin(Stdio::null());
    p
}

fn run_ok(mut p: Proc) {
    let s = p.stdout(Stdio::null()).status().expect("ssh");
    assert!(s.success());
}

fn main() {
    let tb =
        Testbed::up(3).unwrap_or_else(|e| panic!("cannot start the test hosts (needs root): {e}"));
    let ips: Vec<String> = tb.hosts().iter().map(|h| h.ip.to_string()).collect();
    let (key, kh) = (tb.client_key(), tb.known_hosts());
    let args = ssh_args(&key, &kh);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let cfg = |ip: &str| {
        SshConfig::new(ip)
            .identity_file(&key)
            .known_hosts(&kh)
            .use_agent(false)
    };
    let conns: Vec<SshTransport> = rt.block_on(async {
        let mut v = Vec::new();
        for ip in &ips {
            v.push(SshTransport::connect(cfg(ip)).await.expect("connect"));
        }
        v
    });

    // OpenSSH ControlMaster per host, our own children (killed by handle below)
    let socks: Vec<PathBuf> = (0..ips.len())
        .map(|i| tb.dir().join(format!("cm{i}.sock")))
        .collect();
    let mut masters: Vec<Child> = ips
        .iter()
        .zip(&socks)
        .map(|(ip, s)| {
            let sp = s.display().to_string();
            openssh(&args, &["-M", "-N", "-S", &sp], ip)
                .spawn()
                .expect("ssh master")
        })
        .collect();
    for s in &socks {
        for _ in 0..200 {
            if s.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    let mut c = Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();
    let t = Command::new(["true"]);
    {
        let mut g = c.benchmark_group("round_trip");
        g.bench_function("russh_open_connection", |b| {
            b.iter(|| rt.block_on(conns[0].run_ok(&t)).unwrap())
        });
        let s0 = socks[0].display().to_string();
        g.bench_function("openssh_controlmaster", |b| {
            b.iter(|| {
                run_ok({
                    let mut p = openssh(&args, &["-S", &s0], &ips[0]);
                    p.arg("true");
                    p
                })
            })
        });
        g.bench_function("russh_new_connection", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let c = SshTransport::connect(cfg(&ips[0])).await.unwrap();
                    c.run_ok(&t).await.unwrap();
                    c.disconnect().await.unwrap();
                })
            })
        });
        g.bench_function("openssh_new_connection", |b| {
            b.iter(|| {
                run_ok({
                    let mut p = openssh(&args, &["-o", "ControlPath=none"], &ips[0]);
                    p.arg("true");
                    p
                })
            })
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("three_hosts_parallel");
        g.bench_function("russh_open_connections", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut set = tokio::task::JoinSet::new();
                    for c in &conns {
                        let c = c.clone();
                        set.spawn(async move { c.run_ok(&Command::new(["true"])).await.unwrap() });
                    }
                    while let Some(r) = set.join_next().await {
                        r.unwrap();
                    }
                })
            })
        });
        g.bench_function("openssh_controlmaster", |b| {
            b.iter(|| {
                let kids: Vec<Child> = ips
                    .iter()
                    .zip(&socks)
                    .map(|(ip, s)| {
                        let sp = s.display().to_string();
                        let mut p = openssh(&args, &["-S", &sp], ip);
                        p.arg("true").stdout(Stdio::null()).spawn().unwrap()
                    })
                    .collect();
                for mut k in kids {
                    assert!(k.wait().unwrap().success());
                }
            })
        });
        g.bench_function("openssh_new_connections", |b| {
            b.iter(|| {
                let kids: Vec<Child> = ips
                    .iter()
                    .map(|ip| {
                        let mut p = openssh(&args, &["-o", "ControlPath=none"], ip);
                        p.arg("true").stdout(Stdio::null()).spawn().unwrap()
                    })
                    .collect();
                for mut k in kids {
                    assert!(k.wait().unwrap().success());
                }
            })
        });
        g.finish();
    }
    c.final_summary();
    for m in &mut masters {
        let _ = m.kill();
        let _ = m.wait();
    }
    drop(conns);
    drop(rt);
    tb.down().expect("teardown");
}
