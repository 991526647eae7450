//! Key generation and PEM loading on top of rcgen (aws-lc-rs backend).

use rcgen::{KeyPair, PublicKeyData, RsaKeySize};
use x509_parser::prelude::X509Certificate;
use x509_parser::public_key::PublicKey;

use super::{Error, KeyAlgorithm, Result};

/// Generates a fresh key pair of `alg`.
pub(crate) fn generate(alg: KeyAlgorithm, what: &str) -> Result<KeyPair> {
    let r = match alg {
        KeyAlgorithm::Rsa2048 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048),
        KeyAlgorithm::Rsa3072 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_3072),
        KeyAlgorithm::Rsa4096 => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096),
        KeyAlgorithm::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        KeyAlgorithm::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        KeyAlgorithm::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519),
    };
    r.map_err(|e| Error::crypto(format!("{alg} key for {what}"), e))
}

/// Loads a private key from PEM: PKCS#8 (`PRIVATE KEY`), PKCS#1
/// (`RSA PRIVATE KEY`, as cfssl writes) or SEC1 (`EC PRIVATE KEY`).
pub(crate) fn load(path: &str, pem_text: &[u8]) -> Result<KeyPair> {
    let bad = |reason: String| Error::BadPem { path: path.to_string(), expected: "private key", reason };
    let text = std::str::from_utf8(pem_text).map_err(|_| bad("not UTF-8 text".into()))?;
    let block = pem::parse(text).map_err(|e| bad(e.to_string()))?;
    let candidates: &[&'static rcgen::SignatureAlgorithm] = match block.tag() {
        "PRIVATE KEY" => {
            return KeyPair::try_from(block.contents()).map_err(|e| bad(e.to_string()));
        }
        "RSA PRIVATE KEY" => &[&rcgen::PKCS_RSA_SHA256],
        "EC PRIVATE KEY" => &[&rcgen::PKCS_ECDSA_P256_SHA256, &rcgen::PKCS_ECDSA_P384_SHA384],
        other => return Err(bad(format!("unexpected PEM block {other:?}"))),
    };
    let mut last = String::new();
    for alg in candidates {
        match KeyPair::from_pem_and_sign_algo(text, alg) {
            Ok(k) => return Ok(k),
            Err(e) => last = e.to_string(),
        }
    }
    Err(bad(last))
}

/// The algorithm of a public key in a certificate, when it is one we issue.
pub(crate) fn algorithm_of_spki(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> Option<KeyAlgorithm> {
    match spki.parsed().ok()? {
        PublicKey::RSA(rsa) => match rsa.key_size() {
            2048 => Some(KeyAlgorithm::Rsa2048),
            3072 => Some(KeyAlgorithm::Rsa3072),
            4096 => Some(KeyAlgorithm::Rsa4096),
            _ => None,
        },
        PublicKey::EC(point) => match point.key_size() {
            256 => Some(KeyAlgorithm::EcdsaP256),
            384 => Some(KeyAlgorithm::EcdsaP384),
            _ => None,
        },
        PublicKey::Unknown(_) if spki.algorithm.algorithm == x509_parser::oid_registry::OID_SIG_ED25519 => {
            Some(KeyAlgorithm::Ed25519)
        }
        _ => None,
    }
}

/// A human description of a certificate's public key (`rsa-2048`, `rsa-1024`, `ecdsa-p256`, ...).
pub(crate) fn describe_spki(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> String {
    if let Some(a) = algorithm_of_spki(spki) {
        return a.to_string();
    }
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("rsa-{}", rsa.key_size()),
        Ok(PublicKey::EC(p)) => format!("ecdsa-{}", p.key_size()),
        _ => spki.algorithm.algorithm.to_id_string(),
    }
}

/// Whether `key` is the private half of the certificate's public key.
pub(crate) fn matches_cert(key: &KeyPair, cert: &X509Certificate<'_>) -> bool {
    key.subject_public_key_info() == cert.tbs_certificate.subject_pki.raw
}

/// The PEM text of a private key, as every consumer can read it.
///
/// aws-lc writes Ed25519 keys as PKCS#8 v2 (RFC 5958, with the public key
/// appended), which OpenSSL 3.0 and Go's crypto/x509 refuse; they are
/// re-encoded here as PKCS#8 v1 (RFC 8410), which every reader accepts.
/// Other keys are written as aws-lc gives them (PKCS#8 v1).
pub(crate) fn private_key_pem(key: &KeyPair) -> String {
    if key.algorithm() == &rcgen::PKCS_ED25519 {
        let der = key.serialized_der();
        // v2 layout: 30 len 02 01 01 30 05 06 03 2b 65 70 04 22 04 20 <seed:32> a1 ...
        const ALG: [u8; 7] = [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
        if let Some(pos) = der.windows(ALG.len()).position(|w| w == ALG) {
            let rest = &der[pos + ALG.len()..];
            if rest.len() >= 36 && rest[..4] == [0x04, 0x22, 0x04, 0x20] {
                let mut v1 = vec![0x30, 0x2e, 0x02, 0x01, 0x00];
                v1.extend_from_slice(&ALG);
                v1.extend_from_slice(&rest[..36]);
                return pem::encode(&pem::Pem::new("PRIVATE KEY", v1));
            }
        }
    }
    key.serialize_pem()
}

/// Whether `key_pem` (PKCS#8, PKCS#1 as cfssl writes it, or SEC1) is the
/// private key of the certificate `cert_pem`. `Err`: either is not what it
/// should be, naming `path` (the key's).
///
/// ```
/// use k8s_bootstrap_core::pki::{key_matches_cert, CertBundle, KeyAlgorithm};
/// let issued = CertBundle::builder().key_algorithm(KeyAlgorithm::EcdsaP256).build().unwrap().generate().unwrap();
/// let (ca, key) = (&issued.file("ca.pem").unwrap().contents, &issued.file("ca-key.pem").unwrap().contents);
/// assert!(key_matches_cert("ca-key.pem", key, ca).unwrap());
/// let other = CertBundle::builder().key_algorithm(KeyAlgorithm::EcdsaP256).build().unwrap().generate().unwrap();
/// assert!(!key_matches_cert("ca-key.pem", &other.file("ca-key.pem").unwrap().contents, ca).unwrap());
/// ```
pub fn key_matches_cert(path: &str, key_pem: &[u8], cert_pem: &[u8]) -> Result<bool> {
    let key = load(path, key_pem)?;
    let bad = |reason: String| Error::BadPem { path: path.to_string(), expected: "certificate", reason };
    let (_, block) = x509_parser::pem::parse_x509_pem(cert_pem).map_err(|e| bad(e.to_string()))?;
    let cert = block.parse_x509().map_err(|e| bad(e.to_string()))?;
    Ok(matches_cert(&key, &cert))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_keys_are_pkcs8_v1_and_load_back() {
        let k = generate(KeyAlgorithm::Ed25519, "test").unwrap();
        let text = private_key_pem(&k);
        let block = pem::parse(&text).unwrap();
        assert_eq!(block.contents().len(), 48, "RFC 8410 v1 encoding is 48 bytes");
        assert_eq!(&block.contents()[2..5], &[0x02, 0x01, 0x00], "version 0 (v1)");
        let back = load("k", text.as_bytes()).unwrap();
        assert_eq!(back.subject_public_key_info(), k.subject_public_key_info());
    }

    #[test]
    fn other_keys_round_trip() {
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384, KeyAlgorithm::Rsa2048] {
            let k = generate(alg, "test").unwrap();
            let back = load("k", private_key_pem(&k).as_bytes()).unwrap();
            assert_eq!(back.subject_public_key_info(), k.subject_public_key_info(), "{alg}");
        }
    }

    #[test]
    fn not_a_key() {
        let e = load("ca-key.pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap_err();
        assert!(e.to_string().contains("ca-key.pem"), "{e}");
        assert!(load("x", b"garbage").is_err());
    }
}

