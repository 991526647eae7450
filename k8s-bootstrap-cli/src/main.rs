//! `k8s-bootstrap`: the command line over k8s-bootstrap-core.

use clap::Parser;

/// Bring up the foundations of a Kubernetes cluster (PKI, etcd, flannel, docker).
#[derive(Parser, Debug)]
#[command(name = "k8s-bootstrap", version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
