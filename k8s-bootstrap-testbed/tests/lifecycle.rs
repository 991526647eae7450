//! The testbed itself: boots, is reachable, and leaves nothing behind on
//! drop or on panic. Needs root; fails (never skips) without it.

use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use k8s_bootstrap_testbed::{BRIDGE, Testbed};

fn netns_list() -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Where this process's cgroup in the `name=systemd` hierarchy is mounted.
fn own_systemd_cgroup() -> std::path::PathBuf {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let path = own.lines().find_map(|l| l.split_once(":name=systemd:")).map(|(_, p)| p).expect("a name=systemd hierarchy (cgroup v1)");
    Path::new("/sys/fs/cgroup/systemd").join(path.trim_start_matches('/'))
}

fn assert_gone(pids: &[u32], dir: &Path) {
    let cg = own_systemd_cgroup().join(format!("kbtb-{}", std::process::id()));
    assert!(!cg.exists(), "host cgroups left: {}", cg.display());
    assert!(
        !netns_list().contains("kbtb-h"),
        "netns left: {}",
        netns_list()
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains("k8s-bootstrap-testbed"), "mounts left");
    assert!(
        !Path::new("/sys/class/net").join(BRIDGE).exists(),
        "bridge left"
    );
    assert!(!dir.exists(), "state dir left");
    for p in pids {
        assert!(
            !Path::new(&format!("/proc/{p}")).exists(),
            "host systemd {p} still running"
        );
    }
}

#[test]
fn boots_and_tears_down_on_drop_and_on_panic() {
    let tb =
        Testbed::up(2).unwrap_or_else(|e| panic!("cannot start the test hosts (needs root): {e}"));
    let dir = tb.dir().to_path_buf();
    let pids: Vec<u32> = tb.hosts().iter().map(|h| h.pid).collect();
    for h in tb.hosts() {
        TcpStream::connect_timeout(&h.addr(), Duration::from_secs(2)).expect("sshd reachable");
        assert_eq!(
            h.sh("systemctl is-system-running").unwrap().trim(),
            "running"
        );
        assert_eq!(h.sh("cat /proc/1/comm").unwrap().trim(), "systemd");
        assert_eq!(h.sh("hostname").unwrap().trim(), h.name);
        // nothing the machine's image enables for itself runs in a host
        assert!(
            h.exec(&["systemctl", "is-active", "--quiet", "etcd"])
                .unwrap()
                .status
                .code()
                != Some(0)
        );
    }
    // Each host's systemd has a cgroup tree of its own: the same unit on two
    // hosts lives in two cgroups (a shared one let one host's stop remove
    // the cgroup the other was starting that unit in: status=219/CGROUP).
    let mut unit_cgroups = Vec::new();
    for h in tb.hosts() {
        h.sh("systemd-run --quiet --unit=kbtb-probe sleep 600").unwrap();
        let cg = h.sh("grep name=systemd /proc/$(systemctl show -p MainPID --value kbtb-probe)/cgroup").unwrap();
        let tree = format!("kbtb-{}/{}", std::process::id(), h.name);
        assert!(cg.trim().ends_with(&format!("/{tree}/system.slice/kbtb-probe.service")), "{}: {cg}", h.name);
        assert!(own_systemd_cgroup().join(&tree).join("system.slice/kbtb-probe.service").is_dir(), "{}: {cg}", h.name);
        unit_cgroups.push(cg);
    }
    assert_ne!(unit_cgroups[0], unit_cgroups[1]);
    tb.hosts()[0].sh("systemctl stop kbtb-probe").unwrap();
    assert_eq!(tb.hosts()[1].sh("systemctl is-active kbtb-probe").unwrap().trim(), "active");

    // hosts reach each other over the bridge
    let h1 = &tb.hosts()[0];
    h1.sh("exec 3<>/dev/tcp/10.77.0.12/22 && head -c 4 <&3")
        .map(|s| assert_eq!(s, "SSH-"))
        .unwrap_or_else(|_| {
            // /bin/sh may be dash (no /dev/tcp): use bash explicitly
            let out = h1
                .exec(&[
                    "bash",
                    "-c",
                    "exec 3<>/dev/tcp/10.77.0.12/22 && head -c 4 <&3",
                ])
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), "SSH-");
        });
    drop(tb);
    assert_gone(&pids, &dir);

    let (tx, rx) = std::sync::mpsc::channel();
    let r = std::panic::catch_unwind(move || {
        let tb = Testbed::up(1).expect("testbed");
        tx.send((tb.hosts()[0].pid, tb.dir().to_path_buf()))
            .unwrap();
        panic!("intended panic: checks that a failing test still tears down");
    });
    assert!(r.is_err());
    let (pid, dir) = rx.recv().unwrap();
    assert_gone(&[pid], &dir);

    // What a testbed whose teardown failed leaves, owned by a process that
    // still runs (this one) but has let go of the lock, is stale: the next
    // up cleans it and boots. A manual testbed's state (it holds no lock
    // while up) is waited for, until its `down` removes it.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let starttime = stat.rsplit_once(')').unwrap().1.split_whitespace().nth(19).unwrap().to_string();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("state"), format!("owner {} {starttime}\n", std::process::id())).unwrap();
    let tb = Testbed::up(1).expect("a stale state of a live process is cleaned up");
    let pid = tb.hosts()[0].pid;
    drop(tb);
    assert_gone(&[pid], &dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("state"), "owner manual\n").unwrap();
    let down = {
        let dir = dir.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(3));
            std::fs::remove_dir_all(&dir).unwrap(); // what `k8s-bootstrap-testbed down` leaves
        })
    };
    let t = std::time::Instant::now();
    let tb = Testbed::up(1).expect("up waits for the manual testbed's down, then boots");
    assert!(t.elapsed() >= std::time::Duration::from_secs(3), "it waited for the down");
    down.join().unwrap();
    let pid = tb.hosts()[0].pid;
    drop(tb);
    assert_gone(&[pid], &dir);
}
