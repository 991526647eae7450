//! `adopt`: read a cluster built by hand into a spec and the PKI folder.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use k8s_bootstrap_core::adopt::{self, SecretPem};
use k8s_bootstrap_core::spec::HostArg;

use crate::cluster::{self, Conn};
use crate::{Global, OutputFormat};

/// Options of `adopt`.
#[derive(Args, Debug, Clone)]
pub struct AdoptArgs {
    /// A host of the running cluster: NAME=ADDR. Repeat for each host (every etcd member, and the flannel nodes).
    #[arg(long = "host", value_name = "NAME=ADDR", required = true)]
    pub hosts: Vec<HostArg>,
    /// Where to write the spec (default: the --spec path, ./cluster.yaml).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overwrite an existing spec file.
    #[arg(long)]
    pub force: bool,
    /// The CA's private key, when no host has it (PEM, as cfssl wrote it).
    #[arg(long, value_name = "FILE")]
    pub ca_key: Option<PathBuf>,
    #[command(flatten)]
    pub conn: Conn,
}

/// `k8s-bootstrap adopt`.
pub async fn adopt(g: &Global, a: AdoptArgs) -> Result<ExitCode> {
    let out = a.out.clone().unwrap_or_else(|| g.spec.clone());
    let g = Global { spec: out.clone(), ..g.clone() };
    let opts = cluster::connect_options(&g, &a.conn, true)?;
    let pki_dir = opts.pki_dir.clone();
    let ca_key = match &a.ca_key {
        Some(p) => Some((p.display().to_string(), SecretPem(std::fs::read_to_string(p).with_context(|| p.display().to_string())?))),
        None => None,
    };
    let hosts: Vec<(String, std::net::Ipv4Addr)> = a.hosts.iter().map(|h| (h.name.clone(), h.address)).collect();
    let adoption = adopt::adopt(&hosts, &opts.connect, ca_key).await?;
    adoption.write(&out, &pki_dir, a.force)?;
    match g.output {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&adoption.summary(&out, &pki_dir))?),
        OutputFormat::Text => {
            outln!("adopted cluster {} ({} hosts) into {}; its CA into {} (key from {})", adoption.cluster_id, hosts.len(), out.display(), pki_dir.display(), adoption.ca_key.0);
            for f in &adoption.found {
                outln!("  found: {f}");
            }
            for f in &adoption.insecure {
                outln!("  to fix: {f}");
            }
            outln!("next: `k8s-bootstrap plan` lists the migration, `k8s-bootstrap apply` carries it out member by member");
        }
    }
    Ok(ExitCode::SUCCESS)
}
