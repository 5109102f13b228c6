"""Keys: Ed25519 message signatures and the cluster's TLS certificate authority.

Two kinds of key live here:

* :class:`SigningKey` / :class:`VerifyKey`: Ed25519 (RFC 8032) for signing
  protocol messages whose proof must convince a third party (PBFT commits,
  checkpoints, view changes).
* :class:`ClusterCA`: a self-signed CA that issues one TLS certificate per
  node (ECDSA P-256) with the node's name (``node-<id>``) as both common name
  and DNS subject-alternative name. The QUIC runtime uses them for mutual TLS.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from patterns.core.exceptions import AuthenticationError, ConfigError, PeerIdentityError
from patterns.core.ids import NodeId, node_name, parse_node_name

ED25519_SIGNATURE_BYTES = 64
ED25519_PUBLIC_KEY_BYTES = 32
CERT_VALIDITY_DAYS = 365
CA_VALIDITY_DAYS = 3650


class VerifyKey:
    """An Ed25519 public key."""

    __slots__ = ("_key", "raw")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != ED25519_PUBLIC_KEY_BYTES:
            raise ConfigError(
                f"an Ed25519 public key is {ED25519_PUBLIC_KEY_BYTES} bytes, got {len(raw)}"
            )
        self.raw = bytes(raw)
        self._key = ed25519.Ed25519PublicKey.from_public_bytes(self.raw)

    def verify(self, data: bytes, signature: bytes) -> bool:
        """True if ``signature`` is this key's signature of ``data``."""
        if len(signature) != ED25519_SIGNATURE_BYTES:
            return False
        try:
            self._key.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def require(self, data: bytes, signature: bytes) -> None:
        """Like :meth:`verify` but raise :class:`AuthenticationError` on failure."""
        if not self.verify(data, signature):
            raise AuthenticationError("Ed25519 signature does not verify")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifyKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"VerifyKey({self.raw.hex()[:16]}...)"


class SigningKey:
    """An Ed25519 private key."""

    __slots__ = ("_key", "verify_key")

    def __init__(self, key: ed25519.Ed25519PrivateKey) -> None:
        self._key = key
        self.verify_key = VerifyKey(
            key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        )

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh random key (from the OS's CSPRNG)."""
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes | str | int) -> SigningKey:
        """A deterministic key derived from ``seed``: for simulations and tests only."""
        material = repr(seed).encode() if not isinstance(seed, bytes) else seed
        return cls(ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(material).digest()))

    def sign(self, data: bytes) -> bytes:
        """The 64-byte signature of ``data``."""
        return self._key.sign(data)

    def __repr__(self) -> str:
        return f"SigningKey(public={self.verify_key!r})"


@dataclass(frozen=True)
class NodeCredentials:
    """Paths of one node's TLS material."""

    node_id: NodeId
    cert_path: Path
    key_path: Path
    ca_path: Path


class ClusterCA:
    """A cluster certificate authority that writes its files under one directory.

    Layout: ``ca.crt``, ``ca.key``, and ``node-<id>.crt`` / ``node-<id>.key``
    per node. Private keys are written with mode 0600.
    """

    def __init__(self, directory: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate):
        self.directory = directory
        self._key = key
        self.certificate = cert

    @property
    def ca_path(self) -> Path:
        """Path of the CA certificate (PEM)."""
        return self.directory / "ca.crt"

    @classmethod
    def create(cls, directory: str | os.PathLike[str], name: str = "swarmkit-cluster") -> ClusterCA:
        """Create a new CA in ``directory`` (created if missing).

        Raises:
            ConfigError: the directory already holds a CA.
        """
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        if (path / "ca.crt").exists() or (path / "ca.key").exists():
            raise ConfigError(f"{path} already holds a CA; use ClusterCA.load or another directory")
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CA_VALIDITY_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        _write_private(path / "ca.key", _pem_key(key))
        (path / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(path, key, cert)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> ClusterCA:
        """Load an existing CA from ``directory``.

        Raises:
            ConfigError: the CA files are missing or unreadable.
        """
        path = Path(directory)
        try:
            cert = x509.load_pem_x509_certificate((path / "ca.crt").read_bytes())
            key = serialization.load_pem_private_key((path / "ca.key").read_bytes(), None)
        except FileNotFoundError as err:
            raise ConfigError(f"no cluster CA in {path}: {err.filename} is missing") from err
        except ValueError as err:
            raise ConfigError(f"cluster CA in {path} is corrupted: {err}") from err
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"{path / 'ca.key'} is not an EC private key")
        return cls(path, key, cert)

    @classmethod
    def open_or_create(cls, directory: str | os.PathLike[str]) -> ClusterCA:
        """Load the CA in ``directory``, creating it first if there is none."""
        path = Path(directory)
        return cls.load(path) if (path / "ca.crt").exists() else cls.create(path)

    def issue(self, node_id: NodeId, *, common_name: str | None = None) -> NodeCredentials:
        """Issue (or re-issue) the certificate of ``node_id`` and write it.

        ``common_name`` overrides the name written in the certificate; it
        exists so tests can mint a certificate that lies about its node.
        """
        name = common_name or node_name(node_id)
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=CERT_VALIDITY_DAYS))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        stem = node_name(node_id)
        cert_path = self.directory / f"{stem}.crt"
        key_path = self.directory / f"{stem}.key"
        _write_private(key_path, _pem_key(key))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return NodeCredentials(node_id, cert_path, key_path, self.ca_path)

    def credentials(self, node_id: NodeId) -> NodeCredentials:
        """The credentials of ``node_id``, issuing them first if absent."""
        stem = node_name(node_id)
        cert_path = self.directory / f"{stem}.crt"
        key_path = self.directory / f"{stem}.key"
        if cert_path.exists() and key_path.exists():
            return NodeCredentials(node_id, cert_path, key_path, self.ca_path)
        return self.issue(node_id)


def certificate_node_id(cert: x509.Certificate) -> NodeId:
    """The node id named by a node certificate (its DNS subject-alternative name).

    Raises:
        PeerIdentityError: the certificate names no node.
    """
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound as err:
        raise PeerIdentityError("certificate has no subject alternative name") from err
    for name in names:
        try:
            return parse_node_name(name)
        except ConfigError:
            continue
    raise PeerIdentityError(f"certificate names no node (DNS names: {names})")


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
