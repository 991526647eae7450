//! Renders a cluster spec to a directory: `OUT/<host>/<absolute path>` for
//! every file and `OUT/<host>/commands.sh` for the commands of each host.
//!
//! ```text
//! cargo run -q -p k8s-bootstrap-examples --example tutorial_render -- examples/tutorial-cluster.yaml OUT
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use k8s_bootstrap_core::apply::BarePlan;
use k8s_bootstrap_core::spec::ClusterSpec;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [spec_path, out] = args.as_slice() else {
        bail!("usage: tutorial_render SPEC.yaml OUT_DIR");
    };
    let yaml = std::fs::read_to_string(spec_path).with_context(|| format!("reading {spec_path}"))?;
    // Parse and validate first: problems then carry their YAML line and column.
    let (spec, _warnings) = ClusterSpec::load(&yaml).with_context(|| format!("reading {spec_path}"))?;
    // What apply would do on new hosts: the rendered files, and the plan as commands.sh.
    let bare = BarePlan::new(&spec).with_context(|| format!("rendering {spec_path}"))?;
    let cluster = bare.rendered();
    for w in &cluster.warnings {
        eprintln!("warning: {w}");
    }
    let out = Path::new(out);
    for (host, r) in &cluster.hosts {
        let root = out.join(host);
        for f in &r.files {
            let path: PathBuf = root.join(f.path.trim_start_matches('/'));
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&path, &f.contents).with_context(|| format!("writing {}", path.display()))?;
            set_mode(&path, f.mode)?;
        }
        let sh = root.join("commands.sh");
        std::fs::create_dir_all(&root)?;
        std::fs::write(&sh, bare.commands_sh(host)).with_context(|| format!("writing {}", sh.display()))?;
        set_mode(&sh, 0o755)?;
        let certs: Vec<String> = r.certs.iter().map(|c| c.cert_path.clone()).collect();
        println!("{host}: {} files, {} commands, certs: {}", r.files.len(), r.commands.len(), certs.join(" "));
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).with_context(|| format!("chmod {}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> anyhow::Result<()> {
    Ok(())
}
