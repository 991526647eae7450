//! Writes the tutorial cluster's PKI (members etcd01-03 at 192.168.1.30-32,
//! CA `C=CN, ST=Beijing, L=Beijing, CN=etcd CA`) into a folder: the
//! per-member layout in OUT, and the tutorial's own four files in
//! OUT/tutorial. Run it again and it keeps every certificate that is still
//! right.
//!
//! ```text
//! cargo run -q -p k8s-bootstrap-examples --example tutorial_pki -- OUT
//! ```

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("usage: tutorial_pki OUT"))?;
    let done = k8s_bootstrap_examples::tutorial_pki(&out)?;
    print!("{}", k8s_bootstrap_examples::report(&format!("{} (per-member layout)", out.display()), &done.per_member)?);
    print!(
        "{}",
        k8s_bootstrap_examples::report(&format!("{} (tutorial layout)", out.join("tutorial").display()), &done.tutorial)?
    );
    println!("{} file(s) written", done.written);
    Ok(())
}
