//! Migrates the tutorial's cfssl inputs to k8s-bootstrap: reads
//! `ca-config.json`, `ca-csr.json` and `server-csr.json` and writes the
//! equivalent bundle (`ca.pem`, `ca-key.pem`, `server.pem`,
//! `server-key.pem`) into OUT, like
//! `cfssl gencert -initca ca-csr.json | cfssljson -bare ca -` followed by
//! `cfssl gencert -ca=ca.pem -ca-key=ca-key.pem -config=ca-config.json -profile=PROFILE server-csr.json | cfssljson -bare server`.
//!
//! ```text
//! cargo run -q -p k8s-bootstrap-examples --example cfssl_import -- DIR_WITH_JSON www OUT
//! ```

use std::path::PathBuf;

use anyhow::Context;
use k8s_bootstrap_core::pki::cfssl::CfsslImport;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [json_dir, profile, out] = args.as_slice() else {
        anyhow::bail!("usage: cfssl_import DIR_WITH_JSON PROFILE OUT   (PROFILE '-' for the default section)");
    };
    let dir = PathBuf::from(json_dir);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).with_context(|| format!("reading {}", dir.join(f).display()));
    let profile = (profile != "-").then_some(profile.as_str());
    let import = CfsslImport::parse(&read("ca-config.json")?, &read("ca-csr.json")?, &read("server-csr.json")?, profile)?;
    let out = PathBuf::from(out);
    let issued = import
        .into_bundle()?
        .reconcile(&k8s_bootstrap_examples::read_dir_files(&out)?, time::OffsetDateTime::now_utc())?;
    let written = k8s_bootstrap_examples::write_bundle(&out, &issued.files)?;
    print!("{}", k8s_bootstrap_examples::report(&out.display().to_string(), &issued)?);
    println!("{written} file(s) written");
    Ok(())
}
