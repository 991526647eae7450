//! `init`, `validate`, `render`: the spec file and what it renders to, no host touched.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use k8s_bootstrap_core::spec::{ClusterSpec, HostArg, Skeleton, SpecError};
use k8s_bootstrap_core::transport::{FileSource, LocalTransport, PutOptions, Transport};

use crate::{Global, Invalid, OutputFormat, output, style};

/// Options of `init`.
#[derive(Args, Debug, Clone)]
pub struct InitArgs {
    /// A host: NAME=ADDR (etcd member and node) or NAME=ADDR:ROLE[+ROLE] (etcd, node). Repeat for each host.
    #[arg(long = "host", value_name = "NAME=ADDR[:ROLES]", conflicts_with = "preset")]
    pub hosts: Vec<HostArg>,
    /// Start from a preset instead of --host.
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Where to write (default: the --spec path, ./cluster.yaml).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

/// Spec presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// The tutorial's cluster: etcd01-03 at 192.168.1.30-32, etcd 3.3.13, flannel 0.11.0.
    Tutorial,
}

/// Options of `render`.
#[derive(Args, Debug, Clone)]
pub struct RenderArgs {
    /// The folder to write OUT/HOST/ABSOLUTE-PATH and OUT/HOST/commands.sh into.
    #[arg(long)]
    pub out: PathBuf,
}

/// Reads and validates the spec named by `--spec`; warnings go to stderr.
pub fn load_spec(g: &Global) -> Result<(ClusterSpec, String)> {
    let path = &g.spec;
    let yaml = std::fs::read_to_string(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound { " (write one with `k8s-bootstrap init`, or pass --spec FILE)" } else { "" };
        Invalid(format!("cannot read spec {}: {e}{hint}", path.display()))
    })?;
    let (spec, warnings) = ClusterSpec::load(&yaml).with_context(|| path.display().to_string())?;
    if !g.quiet {
        for w in warnings {
            eprintln!("{} {w}", style::warning_label());
        }
    }
    Ok((spec, yaml))
}

/// Writes `text` to `path` atomically (temp file, fsync, rename), mode 0644.
pub async fn write_text(path: &std::path::Path, text: &str) -> Result<()> {
    let p = std::path::absolute(path).with_context(|| format!("{}", path.display()))?;
    LocalTransport::new()
        .put_file(&p.to_string_lossy(), &FileSource::Bytes(text.as_bytes().to_vec()), &PutOptions::new(0o644))
        .await
        .with_context(|| format!("writing {}", p.display()))?;
    Ok(())
}

/// `k8s-bootstrap init`.
pub async fn init(g: &Global, a: InitArgs) -> Result<ExitCode> {
    let out = a.out.clone().unwrap_or_else(|| g.spec.clone());
    let skeleton = match (a.preset, a.hosts.is_empty()) {
        (Some(Preset::Tutorial), _) => Skeleton::Tutorial,
        (None, false) => Skeleton::Hosts(a.hosts.iter().map(HostArg::host).collect()),
        (None, true) => return Err(Invalid("init needs --host NAME=ADDR (once per host) or --preset tutorial".into()).into()),
    };
    let yaml = skeleton.to_yaml();
    // Never write a spec that does not load: duplicate names or addresses are caught here.
    ClusterSpec::load(&yaml).context("the hosts given do not make a valid spec")?;
    if out.exists() && !a.force {
        return Err(Invalid(format!("{} exists; pass --force to overwrite it", out.display())).into());
    }
    write_text(&out, &yaml).await?;
    if !g.quiet {
        eprintln!("wrote {}; edit it, then run `k8s-bootstrap validate --spec {}`", out.display(), out.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `k8s-bootstrap validate`.
pub fn validate(g: &Global) -> Result<ExitCode> {
    let path = &g.spec;
    let yaml = std::fs::read_to_string(path).map_err(|e| Invalid(format!("cannot read spec {}: {e}", path.display())))?;
    let result = ClusterSpec::load(&yaml);
    output::validation(&path.display().to_string(), &result, g.output)?;
    Ok(match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(SpecError::Parse { .. } | SpecError::Invalid { .. }) => ExitCode::from(2),
    })
}

/// `k8s-bootstrap render --out DIR`.
pub async fn render(g: &Global, a: RenderArgs) -> Result<ExitCode> {
    let (spec, _) = load_spec(g)?;
    let bare = k8s_bootstrap_core::apply::BarePlan::new(&spec)?;
    let dir = std::path::absolute(&a.out).with_context(|| a.out.display().to_string())?;
    let done = bare.write_tree(&LocalTransport::new(), &dir.to_string_lossy()).await?;
    match g.output {
        OutputFormat::Json => outln!(
            "{}",
            serde_json::json!({ "out": dir, "written": done.written, "unchanged": done.unchanged,
                "hosts": bare.rendered().hosts.iter().map(|(h, r)| (h.clone(), r.files.iter().map(|f| f.path.clone()).collect::<Vec<_>>())).collect::<std::collections::BTreeMap<_, _>>() })
        ),
        OutputFormat::Text => {
            for (host, r) in &bare.rendered().hosts {
                outln!("{host}: {} files, {} commands -> {}/{host}/", r.files.len(), r.commands.len(), dir.display());
            }
            outln!("{} written, {} unchanged", done.written, done.unchanged);
        }
    }
    Ok(ExitCode::SUCCESS)
}
