"""CertBundle: certificates that the cryptography package and openssl verify,
reconcile, inspect, and PKI errors."""

import datetime
import ipaddress
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

import k8s_bootstrap as kb

TUTORIAL_MEMBERS = [
    {"name": "etcd01", "addresses": ["192.168.1.30"]},
    {"name": "etcd02", "addresses": ["192.168.1.31"]},
    {"name": "etcd03", "addresses": ["192.168.1.32"]},
]
CA_SUBJECT = {"common_name": "etcd CA", "country": "CN", "state": "Beijing", "locality": "Beijing"}


@pytest.fixture(scope="module")
def issued() -> kb.Issued:
    # RSA 2048, the default and the tutorial's choice.
    return kb.CertBundle(members=TUTORIAL_MEMBERS, ca_subject=CA_SUBJECT).generate()


def load(issued: kb.Issued, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(issued.files[name].content)


def test_files_and_modes(issued: kb.Issued) -> None:
    names = set(issued.files)
    for stem in ["ca", "etcd01-server", "etcd02-peer", "admin", "flanneld"]:
        assert f"{stem}.pem" in names and f"{stem}-key.pem" in names
    for f in issued.files.values():
        assert f.mode == (0o600 if f.path.endswith("-key.pem") else 0o644)
        assert f.secret == f.path.endswith("-key.pem")
        if f.secret:
            assert b"PRIVATE KEY" in f.content and "PRIVATE" not in repr(f)
    assert [a.change for a in issued.actions] == ["issued"] * len(issued.actions)
    assert issued.actions[0].id == "ca" and issued.actions[0].reason == "absent"
    assert issued.actions[0].not_after.tzinfo is not None


def test_cryptography_verifies(issued: kb.Issued) -> None:
    ca = load(issued, "ca.pem")
    assert ca.subject.rfc4514_string() == "CN=etcd CA,L=Beijing,ST=Beijing,C=CN"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ca.verify_directly_issued_by(ca)
    for name, f in issued.files.items():
        if f.secret or name == "ca.pem":
            continue
        cert = load(issued, name)
        cert.verify_directly_issued_by(ca)  # signature, issuer name, validity
        key = serialization.load_pem_private_key(issued.files[name.replace(".pem", "-key.pem")].content, None)
        assert key.public_key().public_numbers() == cert.public_key().public_numbers()  # type: ignore[union-attr]
    server = load(issued, "etcd02-server.pem")
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("192.168.1.31") in san.get_values_for_type(x509.IPAddress)
    assert "etcd02" in san.get_values_for_type(x509.DNSName)
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    flanneld = load(issued, "flanneld.pem")
    assert list(flanneld.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]


def test_openssl_verifies(issued: kb.Issued, tmp_path: Path) -> None:
    assert shutil.which("openssl"), "needs openssl (Debian package openssl; scripts/setup installs it)"
    for name, f in issued.files.items():
        (tmp_path / name).write_bytes(f.content)
    ca = str(tmp_path / "ca.pem")
    for cert, purpose in [
        ("etcd01-server.pem", "sslserver"),
        ("etcd01-server.pem", "sslclient"),
        ("etcd03-peer.pem", "sslserver"),
        ("etcd03-peer.pem", "sslclient"),
        ("admin.pem", "sslclient"),
        ("flanneld.pem", "sslclient"),
    ]:
        out = subprocess.run(
            ["openssl", "verify", "-purpose", purpose, "-CAfile", ca, str(tmp_path / cert)],
            capture_output=True, text=True,
        )
        assert out.returncode == 0 and out.stdout.strip().endswith(": OK"), (cert, purpose, out.stdout, out.stderr)
    bad = subprocess.run(
        ["openssl", "verify", "-purpose", "sslserver", "-CAfile", ca, str(tmp_path / "flanneld.pem")],
        capture_output=True, text=True,
    )
    assert bad.returncode != 0  # a client cert is no server cert


def test_reconcile_keeps_and_reissues(issued: kb.Issued) -> None:
    same = kb.CertBundle(members=TUTORIAL_MEMBERS, ca_subject=CA_SUBJECT).reconcile(issued.as_existing())
    assert all(a.change == "kept" for a in same.actions)
    assert same.as_existing() == issued.as_existing()
    moved = [dict(m) for m in TUTORIAL_MEMBERS]
    moved[1] = {"name": "etcd02", "addresses": ["192.168.1.41"]}
    again = kb.CertBundle(members=moved, ca_subject=CA_SUBJECT).reconcile(issued.as_existing())
    changed = {a.id: a.reason for a in again.actions if a.change == "issued"}
    assert set(changed) == {"etcd02-server", "etcd02-peer"}
    assert all("192.168.1.41" in (r or "") for r in changed.values())
    assert again.files["ca.pem"].content == issued.files["ca.pem"].content


def test_ca_never_replaced_silently(issued: kb.Issued) -> None:
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3650)
    with pytest.raises(kb.PkiError) as ei:
        kb.CertBundle(members=TUTORIAL_MEMBERS, ca_subject=CA_SUBJECT).reconcile(issued.as_existing(), now=later)
    assert "never replaced silently" in str(ei.value)
    assert not isinstance(ei.value, ValueError)


def test_inspect(issued: kb.Issued) -> None:
    infos = {i.path: i for i in kb.CertBundle.inspect(issued.as_existing())}
    assert set(infos) == {n for n in issued.files if not n.endswith("-key.pem")}
    s = infos["etcd01-server.pem"]
    assert "192.168.1.30" in s.sans and s.ext_key_usages == ["server-auth", "client-auth"]
    assert s.key_algorithm == "rsa-2048" and not s.is_ca and infos["ca.pem"].is_ca
    assert 363 <= s.days_left <= 365 and s.validity_days >= 365
    assert s.issuer == infos["ca.pem"].subject == "C=CN, ST=Beijing, L=Beijing, CN=etcd CA"
    assert s.not_after > s.not_before


def test_ecdsa_and_tutorial_layout() -> None:
    b = kb.CertBundle(members=TUTORIAL_MEMBERS, key_algorithm="ecdsa-p256", layout="tutorial")
    assert b.layout == "tutorial" and b.key_algorithm == "ecdsa-p256"
    assert b.wanted() == ["ca", "server"]
    files = b.generate().files
    assert set(files) == {"ca.pem", "ca-key.pem", "server.pem", "server-key.pem"}
    ca = x509.load_pem_x509_certificate(files["ca.pem"].content)
    x509.load_pem_x509_certificate(files["server.pem"].content).verify_directly_issued_by(ca)


def test_existing_ca() -> None:
    first = kb.CertBundle(members=TUTORIAL_MEMBERS[:1], key_algorithm="ecdsa-p256").generate()
    b = kb.CertBundle(
        members=TUTORIAL_MEMBERS[:1],
        key_algorithm="ecdsa-p256",
        existing_ca_cert=first.files["ca.pem"].content.decode(),
        existing_ca_key=first.files["ca-key.pem"].content.decode(),
    )
    out = b.generate()
    assert out.actions[0].change == "imported"
    ca = x509.load_pem_x509_certificate(first.files["ca.pem"].content)
    x509.load_pem_x509_certificate(out.files["etcd01-server.pem"].content).verify_directly_issued_by(ca)
    with pytest.raises(kb.ValidationError) as ei:
        kb.CertBundle(existing_ca_cert="not a pem")
    assert ei.value.path == "existing_ca.cert"


def test_warnings_and_validation_errors() -> None:
    b = kb.CertBundle(members=TUTORIAL_MEMBERS[:2], key_algorithm="ed25519", etcd_version="3.3.13")
    assert any("ed25519" in w for w in b.warnings)
    assert any("even member count" in w for w in b.warnings)
    cases = [
        (dict(members=[{"name": "etcd01", "addresses": ["etcd01.example"]}]), "members[0].addresses"),
        (dict(members=[{"name": "etcd01", "addresses": ["10.0.0.1"]}] * 2), "members[1].name"),
        (dict(members=[{"name": "etcd01", "adresses": ["10.0.0.1"]}]), "members[0].adresses"),
        (dict(leaf_validity_days=4000), "leaf_validity_days"),
        (dict(renew_before_days=400), "renew_before_days"),
        (dict(key_algorithm="dsa"), "key_algorithm"),
        (dict(ca_subject={"common_name": ""}), "ca.subject.common_name"),
        (dict(layout="flat"), "layout"),
        (dict(etcd_version="three"), "etcd_version"),
    ]
    for kwargs, path in cases:
        with pytest.raises(kb.ValidationError) as ei:
            kb.CertBundle(**kwargs)  # type: ignore[arg-type]
        assert ei.value.path == path, (kwargs, ei.value.path, str(ei.value))
        assert isinstance(ei.value, ValueError)


def test_for_cluster(tutorial_spec: kb.ClusterSpec) -> None:
    b = kb.CertBundle.for_cluster(tutorial_spec)
    assert b.wanted() == [
        "ca", "etcd01-server", "etcd01-peer", "etcd02-server", "etcd02-peer",
        "etcd03-server", "etcd03-peer", "admin", "flanneld",
    ]
    assert b.key_algorithm == "rsa-2048" and b.layout == "per-member"
    # every cert a rendered host needs is in the bundle
    needed = {c.cert_file for h in tutorial_spec.render().values() for c in h.certs}
    assert needed <= {f"{stem}.pem" for stem in b.wanted()}
    d = tutorial_spec.to_dict()
    d["pki"]["leaf_validity_days"] = 0
    with pytest.raises(kb.ValidationError) as ei:
        kb.CertBundle.for_cluster(kb.ClusterSpec.from_dict(d))
    assert (ei.value.path or "").startswith("pki.")
