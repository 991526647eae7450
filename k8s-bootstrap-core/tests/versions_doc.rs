//! docs/versions.md's matrix stays true: the table is read, and every
//! (etcd, flannel) pair of every row is checked against the core's own
//! rules, with the expected values taken from the table: refused (with the
//! reason the table quotes) or accepted; the API flannel's config is
//! written through (v2/v3); what the etcd env file does with the v2 API
//! (on/off/none). The rows must cover every pair the core knows exactly
//! once. The specs are examples/testbed-cluster.yaml's, the one the live
//! tests apply, with only the versions changed.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_bootstrap_core::spec::{ClusterSpec, Version};

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/versions.md");
const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// (major, minor).
type Pair = (u32, u32);

#[derive(Debug)]
struct Row {
    line: usize,
    etcd: Version,
    flannel: Vec<Version>,
    verdict: String,
    api: String,
    v2: String,
    how: String,
}

/// `0.11-0.17` -> 0.11, 0.12, ..., 0.17; `0.28` -> 0.28.
fn minors(cell: &str) -> Vec<Version> {
    let (a, b) = cell.split_once('-').unwrap_or((cell, cell));
    let a: Version = a.trim().parse().unwrap_or_else(|e| panic!("{cell}: {e}"));
    let b: Version = b.trim().parse().unwrap_or_else(|e| panic!("{cell}: {e}"));
    assert_eq!(a.major, b.major, "{cell}");
    assert!(a.minor <= b.minor, "{cell}");
    (a.minor..=b.minor).map(|m| Version::minor(a.major, m)).collect()
}

fn doc() -> String {
    std::fs::read_to_string(DOC).expect("docs/versions.md")
}

/// The rows of the table whose header is `| etcd | flannel | verdict | ...`.
fn rows() -> Vec<Row> {
    let text = doc();
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("| etcd | flannel | verdict | config through | v2 API |"))
        .expect("docs/versions.md has the matrix table");
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate().skip(header + 2) {
        if !l.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 6, "docs/versions.md line {}: {l}", i + 1);
        let etcd = minors(cells[0]);
        assert_eq!(etcd.len(), 1, "line {}: one etcd minor per row", i + 1);
        out.push(Row {
            line: i + 1,
            etcd: etcd[0],
            flannel: minors(cells[1]),
            verdict: cells[2].to_string(),
            api: cells[3].to_string(),
            v2: cells[4].to_string(),
            how: cells[5].to_string(),
        });
    }
    assert!(!out.is_empty());
    out
}

/// The testbed spec (what the live tests apply) with other versions.
fn spec(etcd: Version, flannel: Version) -> ClusterSpec {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/testbed-cluster.yaml");
    let mut spec = ClusterSpec::from_yaml_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    spec.versions.etcd = etcd;
    spec.versions.flannel = flannel;
    spec
}

/// The first `code` span of a cell.
fn quoted(cell: &str) -> Option<&str> {
    let rest = cell.split_once('`')?.1;
    Some(rest.split_once('`')?.0)
}

#[test]
fn the_matrix_covers_every_known_pair_exactly_once() {
    let (f0, f1) = k8s_bootstrap_core::flannel::SUPPORTED_VERSIONS;
    let flannels: Vec<Version> = (f0.minor..=f1.minor).map(|m| Version::minor(0, m)).collect();
    // (etcd minor, flannel minor) -> the line of its row
    let mut seen: BTreeMap<(Pair, Pair), usize> = BTreeMap::new();
    for r in rows() {
        for f in &r.flannel {
            if let Some(first) = seen.insert((r.etcd.major_minor(), f.major_minor()), r.line) {
                panic!("etcd {} + flannel {f}: in the rows of lines {first} and {}", r.etcd, r.line);
            }
        }
    }
    for e in k8s_bootstrap_core::etcd::KNOWN_MINORS {
        for f in &flannels {
            assert!(seen.remove(&(e.major_minor(), f.major_minor())).is_some(), "etcd {e} + flannel {f}: a known pair missing from the table");
        }
    }
    assert!(seen.is_empty(), "pairs the core does not know: {seen:?}");
    // ... and the core really refuses the minors just outside.
    for (e, f) in [(Version::new(3, 2, 26), f1), (Version::new(3, 8, 0), f1), (Version::minor(3, 7), Version::new(0, 10, 0)), (Version::minor(3, 7), Version::new(0, 29, 0))] {
        assert!(spec(e, f).validate().is_err(), "etcd {e} + flannel {f} is accepted");
    }
}

#[test]
fn every_pair_is_refused_or_rendered_as_the_matrix_says() {
    let mut checked = 0;
    for r in rows() {
        let at = format!("docs/versions.md line {}", r.line);
        for &f in &r.flannel {
            let s = spec(r.etcd, f);
            let pair = format!("{at}: etcd {} + flannel {f}", r.etcd);
            match r.verdict.as_str() {
                "refused" => {
                    let reason = quoted(&r.how).unwrap_or_else(|| panic!("{pair}: a refused row quotes the reason in `...`"));
                    let err = s.validate().expect_err(&pair).to_string();
                    assert!(err.contains(reason), "{pair}: refused, but not for `{reason}`: {err}");
                    assert!(s.render().is_err(), "{pair}");
                    assert_eq!((r.api.as_str(), r.v2.as_str()), ("-", "-"), "{pair}");
                }
                verdict @ ("live" | "render-only") => {
                    s.validate().unwrap_or_else(|e| panic!("{pair}: {verdict}, but refused: {e}"));
                    let rendered = s.render().unwrap_or_else(|e| panic!("{pair}: {e:#?}"));
                    // What the etcd env file does with the v2 API.
                    let env = rendered.hosts["etcd01"].file("/opt/etcd/cfg/etcd").expect("env file").text().to_string();
                    match r.v2.as_str() {
                        "on" => assert!(env.contains("\nETCD_ENABLE_V2=\"true\"\n"), "{pair}: v2 on: {env}"),
                        "off" => assert!(env.contains("\nETCD_ENABLE_V2=\"false\"\n"), "{pair}: v2 off: {env}"),
                        "none" => assert!(!env.contains("ETCD_ENABLE_V2"), "{pair}: no v2 setting: {env}"),
                        other => panic!("{pair}: v2 API `{other}` is not on, off or none"),
                    }
                    // The API flannel's config goes through: the command that writes it.
                    let key = format!("{}/config", s.network.etcd_prefix);
                    let writes: Vec<&Vec<String>> = rendered
                        .hosts
                        .values()
                        .flat_map(|h| &h.commands)
                        .map(|c| &c.argv)
                        .filter(|a| a.get(2) == Some(&key))
                        .collect();
                    assert!(!writes.is_empty(), "{pair}: no command writes {key}");
                    let (wrapper, verb) = match r.api.as_str() {
                        "v2" => ("etcdctl-admin-v2", "set"),
                        "v3" => ("etcdctl-admin", "put"),
                        other => panic!("{pair}: config through `{other}` is not v2 or v3"),
                    };
                    for a in writes {
                        assert!(a[0].ends_with(&format!("/{wrapper}")) && a[1] == verb, "{pair}: config through {}: {a:?}", r.api);
                    }
                    if verdict == "live" {
                        // Live means: a named test applies the testbed spec, whose flanneld this is.
                        assert_eq!(f.major_minor(), testbed_flannel().major_minor(), "{pair}: live, but the test hosts run flannel {}", testbed_flannel());
                        let tests: Vec<&str> = r.how.split('`').skip(1).step_by(2).filter(|t| t.ends_with(".rs") || t.ends_with(".sh")).collect();
                        assert!(!tests.is_empty(), "{pair}: live, but no test named");
                        for t in tests {
                            let found = [t.to_string(), format!("k8s-bootstrap-testbed/tests/{t}")]
                                .iter()
                                .any(|p| Path::new(WORKSPACE).join(p).is_file());
                            assert!(found, "{pair}: the test {t} does not exist");
                        }
                    } else {
                        assert!(r.how.len() > 10, "{pair}: render-only needs the reason");
                    }
                }
                other => panic!("{at}: verdict `{other}` is not live, render-only or refused"),
            }
            checked += 1;
        }
    }
    assert!(checked >= 5 * 18, "{checked} pairs checked");
}

/// The flannel of examples/testbed-cluster.yaml (the flanneld scripts/setup builds).
fn testbed_flannel() -> Version {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/testbed-cluster.yaml");
    ClusterSpec::from_yaml_str(&std::fs::read_to_string(path).unwrap()).unwrap().versions.flannel
}

#[test]
fn the_unknown_minor_error_is_the_one_the_doc_shows() {
    let text = doc();
    let after = text.split_once("Any other minor is refused").expect("the doc shows the unknown-minor error").1;
    let shown = after.split_once("```text\n").unwrap().1.split_once("\n```").unwrap().0;
    let (value, _) = shown.split_once(':').unwrap();
    let version: Version = value.trim_start_matches("versions.etcd = ").parse().unwrap();
    let err = spec(version, Version::minor(0, 28)).validate().unwrap_err();
    let problems: Vec<String> = err.problems().iter().map(|p| p.to_string()).collect();
    assert!(problems.iter().any(|p| p == shown), "the doc shows:\n{shown}\nthe core says:\n{problems:#?}");
}
