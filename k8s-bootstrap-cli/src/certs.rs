//! `certs generate | check-expiration | renew`: the cluster's PKI folder.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use k8s_bootstrap_core::apply::{self, Renew};
use k8s_bootstrap_core::transport::LocalTransport;

use crate::init::load_spec;
use crate::cluster::warn_all;
use crate::{Global, output};

/// `certs` subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum CertsCmd {
    /// Create the CA and every certificate the spec needs; keep every one that is still right.
    Generate {
        /// Show what would be issued, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// A table of every certificate: expiry, residual time, CA, state.
    CheckExpiration,
    /// Issue new keys and certificates (same CA) for the named leaves, or all; apply installs them.
    Renew {
        /// Certificate names (`etcd01-server`, `admin`, ...; see check-expiration).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        names: Vec<String>,
        /// Every leaf certificate (not the CA).
        #[arg(long)]
        all: bool,
        /// Show what would be renewed, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// The PKI folder: --pki-dir, or pki/ beside the spec.
pub fn pki_dir(g: &Global) -> String {
    crate::cluster::open_options(g).pki_dir.to_string_lossy().into_owned()
}

/// Runs a `certs` subcommand.
pub async fn run(g: &Global, cmd: CertsCmd) -> Result<ExitCode> {
    let (spec, _) = load_spec(g)?;
    let dir = pki_dir(g);
    let local = LocalTransport::new();
    let pki_err = |e: apply::PkiDirError| anyhow::Error::from(e).context(format!("certificates in {dir}"));
    match cmd {
        CertsCmd::Generate { dry_run } => {
            let issued = apply::sync_pki_dir(&spec, &local, &dir, dry_run).await.map_err(pki_err)?;
            warn_all(g, &issued.warnings);
            output::issued(&issued, &dir, dry_run, g.output)
        }
        CertsCmd::CheckExpiration => {
            let rows = apply::check_expiration(&spec, &local, &dir, time::OffsetDateTime::now_utc()).await.map_err(pki_err)?;
            output::expiration(&rows, &dir, g.output)
        }
        CertsCmd::Renew { names, all, dry_run } => {
            let which = if all { Renew::All } else { Renew::Named(names) };
            let issued = apply::renew_certs(&spec, &local, &dir, &which, dry_run).await.map_err(pki_err)?;
            warn_all(g, &issued.warnings);
            output::issued(&issued, &dir, dry_run, g.output)
        }
    }
}
