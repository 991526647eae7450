//! Every rendered unit passes `systemd-analyze verify` without a warning.
//!
//! The units are checked inside a temporary root (`--root`) that holds a
//! copy of this machine's unit directory (for the targets the units name),
//! the rendered files at their paths, and stub executables for every
//! `Exec*=` binary (verify checks that they exist).
//! Needs `systemd-analyze` (Debian package `systemd`): the test fails without it.

mod render_support;
use render_support as common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use k8s_bootstrap_core::docker::{DockerMode, DockerUnit};
use k8s_bootstrap_core::render::HostRender;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let ty = e.file_type().unwrap();
        let dst = to.join(e.file_name());
        if ty.is_dir() {
            copy_dir(&e.path(), &dst);
        } else if ty.is_symlink() {
            let target = std::fs::read_link(e.path()).unwrap();
            let _ = std::os::unix::fs::symlink(target, dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

fn stub(root: &Path, abs: &str) {
    let p = root.join(abs.trim_start_matches('/'));
    if !p.exists() {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Verifies every `.service` of `host`; returns how many were checked.
fn verify_host(label: &str, host: &HostRender) -> usize {
    assert!(
        Path::new("/usr/lib/systemd/system/multi-user.target").is_file(),
        "systemd's unit directory /usr/lib/systemd/system is needed: install the Debian package `systemd`"
    );
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    copy_dir(Path::new("/usr/lib/systemd/system"), &root.join("usr/lib/systemd/system"));
    for f in &host.files {
        let p = root.join(f.path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &f.contents).unwrap();
    }
    let units: Vec<_> = host.files.iter().filter(|f| f.path.ends_with(".service")).collect();
    for u in &units {
        for line in u.text().lines() {
            if line.starts_with("Exec")
                && let Some((_, cmd)) = line.split_once('=')
            {
                let bin = cmd.trim_start_matches(['-', '@', '+', '!', ':']).split_whitespace().next().unwrap();
                stub(root, bin);
            }
        }
    }
    for u in &units {
        let name = Path::new(&u.path).file_name().unwrap().to_str().unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(format!("--root={}", root.display()))
            .arg(name)
            .output()
            .expect("systemd-analyze must be installed (Debian package `systemd`) to verify the rendered units");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{label} {}: systemd-analyze verify failed:\n{stderr}", u.path);
        assert!(stderr.trim().is_empty(), "{label} {}: systemd-analyze verify warned:\n{stderr}", u.path);
    }
    units.len()
}

#[test]
fn every_rendered_unit_verifies_without_warnings() {
    let mut checked = 0;
    for (e, f) in [("3.3.13", "0.11.0"), ("3.5.17", "0.26.1"), ("3.6.5", "0.26.1")] {
        let cluster = common::tutorial(e, f).render().unwrap();
        for (name, host) in &cluster.hosts {
            checked += verify_host(&format!("etcd {e} flannel {f} {name}"), host);
        }
    }
    // daemon-json mode renders a different docker.service.
    let r = DockerUnit::default().mode(DockerMode::DaemonJson).bridge("10.244.5.1/24", None).render().unwrap();
    checked += verify_host("docker daemon-json", &r);
    assert_eq!(checked, 3 * 3 * 3 + 1);
}

#[test]
fn the_checker_catches_a_bad_unit() {
    // The harness must fail on warnings, or the test above proves nothing.
    let mut host = DockerUnit::default().render().unwrap();
    let f = &mut host.files[0];
    f.contents = f.text().replace("Restart=on-failure", "Restart=on-failure\nStartLimitInterval=60s\nNoSuchKey=1").into_bytes();
    let r = std::panic::catch_unwind(|| verify_host("bad", &host));
    let msg = *r.unwrap_err().downcast::<String>().unwrap();
    assert!(msg.contains("Unknown key 'NoSuchKey'"), "{msg}");
}
