//! SshTransport (russh) vs the OpenSSH client on real test hosts.
//!
//! Needs root (boots 3 test hosts with k8s-bootstrap-testbed; fails loudly
//! otherwise). Run: `cargo bench -p k8s-bootstrap-benches --bench transport`.
//!
//! - `round_trip/*`: one `true` on one host. russh over its one open
//!   connection (since issue 17: an exchange on its open session) vs
//!   OpenSSH over a ControlMaster connection (the fairest OpenSSH
//!   equivalent), plus both with a new connection per command.
//! - `three_hosts_parallel/*`: one `true` on each of 3 hosts at once.
//! - `session_vs_channel/*` (issue 17): one `true` as an exchange on the
//!   transport's open session (what every command costs now) vs an exec on
//!   a new channel of an open connection (what every command cost before:
//!   sshd sets up a session, PAM, logind); both also as a non-root user with
//!   sudo (before: a sudo per command; now: one per session), and that
//!   user's bare exec on a new channel without sudo. Every new channel
//!   starts the login shell, so root's rows include root's ~/.bashrc (on
//!   this machine it runs `pyenv init`, ~100 ms; the test hosts share it).
//!   Only this group: `cargo bench -p k8s-bootstrap-benches --bench transport -- session_vs_channel`.

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

/// A bare russh client for the test hosts (their keys are the testbed's own).
struct Trusting;

impl russh::client::Handler for Trusting {
    type Error = russh::Error;
    async fn check_server_key(&mut self, _key: &russh::keys::PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

async fn bare_connect(ip: &str, user: &str, key: &Path) -> russh::client::Handle<Trusting> {
    let cfg = std::sync::Arc::new(russh::client::Config { nodelay: true, ..Default::default() });
    let mut h = russh::client::connect(cfg, (ip, 22), Trusting).await.expect("bare connect");
    let k = russh::keys::load_secret_key(key, None).expect("key");
    let auth = h
        .authenticate_publickey(user, russh::keys::PrivateKeyWithHashAlg::new(std::sync::Arc::new(k), None))
        .await
        .expect("auth");
    assert!(auth.success());
    h
}

/// One command on a new channel: open, exec, read until the channel closes.
async fn channel_exec(h: &russh::client::Handle<Trusting>, line: &str) {
    let mut ch = h.channel_open_session().await.expect("channel");
    ch.exec(true, line).await.expect("exec");
    let mut code = None;
    while let Some(m) = ch.wait().await {
        if let russh::ChannelMsg::ExitStatus { exit_status } = m {
            code = Some(exit_status);
        }
    }
    assert_eq!(code, Some(0));
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
    {
        // a non-root user with passwordless sudo on host 1
        tb.hosts()[0]
            .sh("id kbbench >/dev/null 2>&1 || useradd -m -s /bin/bash kbbench; mkdir -p ~kbbench/.ssh; \
                 cp /root/.ssh/authorized_keys ~kbbench/.ssh/; chown -R kbbench: ~kbbench/.ssh; \
                 echo 'kbbench ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/kbbench; chmod 440 /etc/sudoers.d/kbbench")
            .expect("sudo user");
        let (bare_root, bare_user, sudo_t) = rt.block_on(async {
            let sudo_t = SshTransport::connect(cfg(&ips[0]).user("kbbench")).await.expect("connect kbbench");
            (bare_connect(&ips[0], "root", &key).await, bare_connect(&ips[0], "kbbench", &key).await, sudo_t)
        });
        let mut g = c.benchmark_group("session_vs_channel");
        g.bench_function("root_exchange_on_open_session", |b| {
            b.iter(|| rt.block_on(conns[0].run_ok(&t)).unwrap())
        });
        let echo = Command::new(["echo", "etcd01"]);
        g.bench_function("root_exchange_with_output_on_open_session", |b| {
            b.iter(|| rt.block_on(conns[0].run_ok(&echo)).unwrap())
        });
        g.bench_function("root_exec_on_new_channel", |b| {
            b.iter(|| rt.block_on(channel_exec(&bare_root, "exec true")))
        });
        g.bench_function("user_exec_on_new_channel_no_sudo", |b| {
            b.iter(|| rt.block_on(channel_exec(&bare_user, "exec true")))
        });
        g.bench_function("sudo_exchange_on_open_session", |b| {
            b.iter(|| rt.block_on(sudo_t.run_ok(&t)).unwrap())
        });
        g.bench_function("sudo_exec_on_new_channel", |b| {
            b.iter(|| rt.block_on(channel_exec(&bare_user, "sudo -n -- sh -c 'exec true'")))
        });
        g.finish();
        let s = (conns[0].stats(), sudo_t.stats());
        println!("session_vs_channel: root transport {:?}, sudo transport {:?}", s.0, s.1);
        drop((bare_root, bare_user, sudo_t));
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
