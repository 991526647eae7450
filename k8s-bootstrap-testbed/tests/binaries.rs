//! The real programs of `scripts/setup-binaries`: every binary in its
//! manifest runs and reports the manifest's version itself, and every etcd
//! release tarball has the manifest's sha256 and the upstream layout, and
//! its etcd runs once unpacked. Fails (never skips) when `scripts/setup`
//! has not run. Prints a table of what it ran, also under `cargo test`'s
//! output capture.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use k8s_bootstrap_testbed::binaries::{ETCD_MINORS, Manifest, SETUP_HINT};

/// The version a program printed, as the program itself words it.
fn reported_version(program: &str, output: &str) -> Option<String> {
    let prefix = match program {
        "etcd" => "etcd Version: ",
        "etcdctl" => "etcdctl version: ",
        "etcdutl" => "etcdutl version: ",
        // flanneld prints only its version string (flannel's Makefile sets it to the git tag, vX.Y.Z)
        "flanneld" => {
            return output
                .lines()
                .map(str::trim)
                .find(|l| {
                    let v = l.strip_prefix('v').unwrap_or(l);
                    v.split('.').count() == 3
                        && v.split('.')
                            .all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
                })
                .map(|l| l.trim_start_matches('v').to_string());
        }
        _ => return None,
    };
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix(prefix))
        .map(|v| v.trim().to_string())
}

fn run_version(path: &Path, args: &[String]) -> String {
    let out = Command::new(path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} {args:?}: {e}; {SETUP_HINT}", path.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{} {args:?} exited with {}: {text}",
        path.display(),
        out.status
    );
    text
}

/// SHA-256 by coreutils' sha256sum: an independent check, and fast where
/// an unoptimized test build hashing 300 MB is not.
fn sha256_hex(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("run sha256sum {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "sha256sum {}: {out:?}",
        path.display()
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let sum = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        sum.len(),
        64,
        "sha256sum {} printed {text:?}",
        path.display()
    );
    sum
}

fn load() -> Manifest {
    Manifest::load().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_binary_in_the_manifest_runs_and_reports_the_manifests_version() {
    let m = load();
    // What the other tests are promised is all there.
    m.flanneld().unwrap_or_else(|e| panic!("{e}"));
    for minor in ETCD_MINORS {
        m.etcd(minor).unwrap_or_else(|e| panic!("{e}"));
        m.etcdctl(minor).unwrap_or_else(|e| panic!("{e}"));
        m.etcd_release(minor).unwrap_or_else(|e| panic!("{e}"));
    }
    for minor in ["3.5", "3.6", "3.7"] {
        m.etcdutl(minor).unwrap_or_else(|e| panic!("{e}"));
    }

    let mut rows = Vec::new();
    let mut seen = BTreeSet::new();
    for p in &m.programs {
        assert!(
            seen.insert((p.program.clone(), p.version.clone())),
            "{} {} is listed twice in {}",
            p.program,
            p.version,
            m.path.display()
        );
        assert!(
            p.path.starts_with(&m.cache),
            "{} is outside the cache {}",
            p.path.display(),
            m.cache.display()
        );
        let out = run_version(&p.path, &p.version_args);
        let said = reported_version(&p.program, &out).unwrap_or_else(|| {
            panic!(
                "{} {:?} printed no version we know: {out}",
                p.path.display(),
                p.version_args
            )
        });
        assert_eq!(
            said,
            p.version,
            "{} says it is {said}, the manifest says {}",
            p.path.display(),
            p.version
        );
        rows.push([
            p.program.clone(),
            p.version.clone(),
            format!("{} {}", p.path.display(), p.version_args.join(" ")),
            p.source.clone(),
        ]);
    }
    // a current flannel (v3 etcd API, >= 0.26), as issue 16 asks
    let flanneld = m.flanneld().unwrap();
    let key: Vec<u64> = flanneld
        .version
        .split('.')
        .map(|c| c.parse().unwrap_or(0))
        .collect();
    assert!(
        key >= vec![0, 26],
        "flanneld {} is older than 0.26",
        flanneld.version
    );

    let mut table = String::from("binaries run (program, version it reported, command, source):\n");
    let w = [0, 1, 2].map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0));
    for r in &rows {
        table.push_str(&format!(
            "  {:<w0$}  {:<w1$}  {:<w2$}  {}\n",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2]
        ));
    }
    // straight to the file descriptor: shown even when the test harness captures output
    let _ = std::io::stderr().write_all(table.as_bytes());
}

#[test]
fn every_etcd_release_tarball_has_the_manifests_sha256_and_the_upstream_layout() {
    let m = load();
    let mut rows = Vec::new();
    for minor in ETCD_MINORS {
        let r = m.etcd_release(minor).unwrap_or_else(|e| panic!("{e}"));
        let etcd = m.etcd(minor).unwrap();
        assert_eq!(
            r.version, etcd.version,
            "the {minor} tarball and the {minor} etcd differ"
        );
        let name = format!("etcd-v{}-linux-amd64", r.version);
        assert_eq!(r.top_dir, name);
        assert_eq!(
            r.path.file_name().unwrap().to_string_lossy(),
            format!("{name}.tar.gz")
        );
        let sum = sha256_hex(&r.path);
        assert_eq!(
            sum,
            r.sha256,
            "sha256 of {} differs from the manifest's; {SETUP_HINT}",
            r.path.display()
        );

        let mut want_files = vec!["etcd", "etcdctl"];
        if minor != "3.4" {
            want_files.push("etcdutl");
        }
        assert_eq!(r.files, want_files, "programs in {}", r.path.display());

        // layout: exactly one top folder holding the programs, nothing else
        let out = Command::new("tar")
            .arg("-tzf")
            .arg(&r.path)
            .output()
            .expect("run tar");
        assert!(
            out.status.success(),
            "tar -tzf {}: {out:?}",
            r.path.display()
        );
        let listed: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim_end_matches('/').to_string())
            .collect();
        let mut want: BTreeSet<String> = r.files.iter().map(|f| format!("{name}/{f}")).collect();
        want.insert(name.clone());
        assert_eq!(listed, want, "entries of {}", r.path.display());

        // unpacked as a user would, each program is the manifest's and runs
        let dir = tempfile::tempdir().unwrap();
        let st = Command::new("tar")
            .arg("-xzf")
            .arg(&r.path)
            .arg("-C")
            .arg(dir.path())
            .status()
            .expect("run tar");
        assert!(st.success(), "tar -xzf {}", r.path.display());
        for f in &r.files {
            let unpacked = dir.path().join(&name).join(f);
            let listed = m.program(f, &r.version).unwrap();
            assert_eq!(
                sha256_hex(&unpacked),
                sha256_hex(&listed.path),
                "{f} in {} is not {}",
                r.path.display(),
                listed.path.display()
            );
            let said = reported_version(f, &run_version(&unpacked, &listed.version_args));
            assert_eq!(
                said.as_deref(),
                Some(r.version.as_str()),
                "{}",
                unpacked.display()
            );
        }
        rows.push(format!(
            "  {}  sha256 {}  {}\n",
            r.path.display(),
            r.sha256,
            r.files.join(",")
        ));
    }
    let _ = std::io::stderr()
        .write_all(format!("release tarballs checked:\n{}", rows.concat()).as_bytes());
}

#[test]
fn the_version_parser_reads_what_the_real_programs_print() {
    assert_eq!(
        reported_version("etcd", "etcd Version: 3.7.3\nGit SHA: x\n").as_deref(),
        Some("3.7.3")
    );
    assert_eq!(
        reported_version("etcdctl", "etcdctl version: 3.4.23\nAPI version: 3.4\n").as_deref(),
        Some("3.4.23")
    );
    assert_eq!(
        reported_version("etcdutl", "etcdutl version: 3.5.1\nAPI version: 3.5\n").as_deref(),
        Some("3.5.1")
    );
    assert_eq!(
        reported_version("flanneld", "v0.28.10\n").as_deref(),
        Some("0.28.10")
    );
    assert_eq!(reported_version("flanneld", "dev\n"), None);
    assert_eq!(reported_version("etcd", "API version: 3.4\n"), None);
}
