//! A machine without one of the programs the testbed runs gets, before
//! anything is created, the program's name and the package to install,
//! never a bare "No such file or directory". Needs root (the check comes
//! after the root check); fails, never skips, without it.

use std::os::unix::fs::symlink;
use std::process::Command;

#[test]
fn up_names_each_missing_program_and_its_package_before_touching_anything() {
    let uid = Command::new("id").arg("-u").output().expect("id");
    assert_eq!(String::from_utf8_lossy(&uid.stdout).trim(), "0", "this test needs root (the testbed checks root first)");
    // A PATH with every program the testbed runs except iptables and nsenter.
    let bin = tempfile::tempdir().unwrap();
    for tool in ["id", "ip", "unshare", "setsid", "mount", "umount", "kill", "chmod", "ssh-keygen", "sh"] {
        let path = which(tool);
        symlink(&path, bin.path().join(tool)).unwrap();
    }
    let bridge_before = Command::new("ip").args(["link", "show", k8s_bootstrap_testbed::BRIDGE]).output().unwrap().status.success();
    let out = Command::new(env!("CARGO_BIN_EXE_k8s-bootstrap-testbed"))
        .args(["up", "1"])
        .env("PATH", bin.path())
        .env("K8S_BOOTSTRAP_TESTBED_DIR", bin.path().join("state"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "up must fail: {err}");
    assert!(err.contains("`iptables` is not installed: install the Debian package `iptables`"), "{err}");
    assert!(err.contains("`nsenter` is not installed: install the Debian package `util-linux`"), "{err}");
    assert!(err.contains("scripts/setup"), "{err}");
    assert!(!err.contains("No such file or directory"), "{err}");
    assert!(!bin.path().join("state").exists(), "nothing was created");
    let bridge_after = Command::new("ip").args(["link", "show", k8s_bootstrap_testbed::BRIDGE]).output().unwrap().status.success();
    assert_eq!(bridge_before, bridge_after, "the bridge was not touched");
}

fn which(tool: &str) -> std::path::PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join(tool)).find(|p| p.is_file()))
        .unwrap_or_else(|| panic!("{}", k8s_bootstrap_core::tools::missing(tool)))
}
