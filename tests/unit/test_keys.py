"""Ed25519 helpers and the cluster certificate authority."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509

from patterns.core.exceptions import AuthenticationError, ConfigError, PeerIdentityError
from patterns.core.keys import ClusterCA, SigningKey, VerifyKey, certificate_node_id


def test_sign_and_verify() -> None:
    key = SigningKey.generate()
    sig = key.sign(b"commit v=1 n=7")
    assert len(sig) == 64
    assert key.verify_key.verify(b"commit v=1 n=7", sig)
    assert not key.verify_key.verify(b"commit v=1 n=8", sig)
    assert not SigningKey.generate().verify_key.verify(b"commit v=1 n=7", sig)
    assert not key.verify_key.verify(b"commit v=1 n=7", sig[:-1])
    with pytest.raises(AuthenticationError):
        key.verify_key.require(b"other", sig)


def test_seeded_keys_are_deterministic_and_distinct() -> None:
    assert SigningKey.from_seed(1).verify_key == SigningKey.from_seed(1).verify_key
    assert SigningKey.from_seed(1).verify_key != SigningKey.from_seed(2).verify_key
    raw = SigningKey.from_seed("a").verify_key.raw
    assert VerifyKey(raw) == SigningKey.from_seed("a").verify_key
    with pytest.raises(ConfigError, match="32 bytes"):
        VerifyKey(b"short")


def test_ca_issues_node_certificates(tmp_path: Path) -> None:
    ca = ClusterCA.create(tmp_path / "certs")
    creds = ca.issue(7)
    cert = x509.load_pem_x509_certificate(creds.cert_path.read_bytes())
    assert certificate_node_id(cert) == 7
    cert.verify_directly_issued_by(ca.certificate)
    assert stat.S_IMODE(creds.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "certs" / "ca.key").stat().st_mode) == 0o600
    again = ClusterCA.load(tmp_path / "certs").credentials(7)
    assert again.cert_path == creds.cert_path


def test_ca_refuses_to_overwrite(tmp_path: Path) -> None:
    ClusterCA.create(tmp_path)
    before = (tmp_path / "ca.crt").read_bytes()
    with pytest.raises(ConfigError, match="already holds a CA"):
        ClusterCA.create(tmp_path)
    assert (tmp_path / "ca.crt").read_bytes() == before


def test_missing_or_corrupted_ca(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing"):
        ClusterCA.load(tmp_path / "nothing")
    ClusterCA.create(tmp_path)
    (tmp_path / "ca.crt").write_bytes(b"-----BEGIN CERTIFICATE-----\ngarbage\n")
    with pytest.raises(ConfigError, match="corrupted"):
        ClusterCA.load(tmp_path)


def test_certificate_without_node_name(tmp_path: Path) -> None:
    ca = ClusterCA.create(tmp_path)
    creds = ca.issue(3, common_name="intruder.example")
    cert = x509.load_pem_x509_certificate(creds.cert_path.read_bytes())
    with pytest.raises(PeerIdentityError, match="names no node"):
        certificate_node_id(cert)
