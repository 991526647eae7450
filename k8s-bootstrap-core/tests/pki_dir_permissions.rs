//! The PKI folder on the control machine holds the cluster's private keys:
//! it is made 0700 before the first key goes in (created so, or tightened
//! when it exists empty), and a key, or a folder holding keys, that group
//! or others can reach is refused (with the `chmod` that fixes it) before
//! anything is read, generated or written, as OpenSSH refuses such keys.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use k8s_bootstrap_core::apply::{PkiDirError, check_expiration, sync_pki_dir};
use k8s_bootstrap_core::pki::KeyAlgorithm;
use k8s_bootstrap_core::spec::{ClusterSpec, HostSpec, Role, Version};
use k8s_bootstrap_core::transport::LocalTransport;

fn spec() -> ClusterSpec {
    let mut s = ClusterSpec::new(vec![HostSpec::new("etcd01", [192, 168, 1, 30].into(), &[Role::Etcd])], Version::new(3, 5, 17), Version::new(0, 26, 1));
    s.pki.key_algorithm = KeyAlgorithm::EcdsaP256;
    s
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn sync(dir: &Path) -> Result<k8s_bootstrap_core::pki::Issued, PkiDirError> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(sync_pki_dir(&spec(), &LocalTransport::new(), dir.to_str().unwrap(), false))
}

#[test]
fn a_new_folder_is_created_0700_whatever_the_umask() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("a/b/pki");
    sync(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("ca-key.pem")), 0o600);
    assert_eq!(mode(&dir.join("ca.pem")), 0o644);
    // and it passes its own check on the next run
    sync(&dir).unwrap();
}

#[test]
fn an_existing_folder_without_keys_is_made_private_before_the_first_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("README"), "notes\n").unwrap();
    sync(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("etcd01-server-key.pem")), 0o600);
}

#[test]
fn a_folder_open_to_others_is_refused_with_the_fix_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    sync(&dir).unwrap();
    let before: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    std::fs::remove_file(dir.join("etcd01-server.pem")).unwrap(); // something to issue
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = sync(&dir).unwrap_err();
    let shown = dir.to_str().unwrap();
    match &err {
        PkiDirError::Insecure { path, mode, fix } => {
            assert_eq!((path.as_str(), *mode, fix.as_str()), (shown, 0o755, format!("chmod 700 {shown}").as_str()));
        }
        other => panic!("expected Insecure, got {other:?}"),
    }
    assert!(err.to_string().contains("mode 0755"), "{err}");
    assert!(!dir.join("etcd01-server.pem").exists(), "nothing is issued into an insecure folder");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), before.len() - 1);
    // check-expiration reads keys' folder too: refused as well
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e = rt.block_on(check_expiration(&spec(), &LocalTransport::new(), shown, time::OffsetDateTime::now_utc())).unwrap_err();
    assert!(matches!(e, PkiDirError::Insecure { .. }), "{e:?}");
}

#[test]
fn a_key_readable_by_the_group_is_refused_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    sync(&dir).unwrap();
    for (key, bits) in [("ca-key.pem", 0o640), ("etcd01-peer-key.pem", 0o604)] {
        let k = dir.join(key);
        std::fs::set_permissions(&k, std::fs::Permissions::from_mode(bits)).unwrap();
        match sync(&dir).unwrap_err() {
            PkiDirError::Insecure { path, mode, fix } => {
                assert_eq!(path, k.to_str().unwrap());
                assert_eq!(mode, bits);
                assert_eq!(fix, format!("chmod 600 {}", k.display()));
            }
            other => panic!("expected Insecure, got {other:?}"),
        }
        std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // certificates are public: 0644 is fine
    assert_eq!(mode(&dir.join("ca.pem")), 0o644);
    sync(&dir).unwrap();
}
