"""The embedded cluster's keys: a CA, the apiserver's serving cert, its kubelet client cert, service-account keys."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_FOR = datetime.timedelta(days=3650)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _name(common: str, org: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if org:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(parts)


class Pki:
    """Files under `root`; `ensure()` creates what is missing and keeps what exists (restarts keep trust)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca_cert = root / "ca.crt"
        self.ca_key = root / "ca.key"
        self.serving_cert = root / "apiserver.crt"
        self.serving_key = root / "apiserver.key"
        self.kubelet_client_cert = root / "apiserver-kubelet-client.crt"
        self.kubelet_client_key = root / "apiserver-kubelet-client.key"
        self.sa_key = root / "service-account.key"
        self.sa_pub = root / "service-account.pub"

    def ensure(self, hosts: list[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        if not (self.ca_cert.exists() and self.ca_key.exists()):
            self._make_ca()
        ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        ca = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        assert isinstance(ca_key, rsa.RSAPrivateKey)
        if not self.serving_cert.exists() or not _covers(self.serving_cert, hosts):
            self._issue(ca, ca_key, _name("kube-apiserver"), self.serving_cert, self.serving_key, hosts, server=True)
        if not self.kubelet_client_cert.exists():
            self._issue(
                ca,
                ca_key,
                _name("kube-apiserver-kubelet-client", "system:masters"),
                self.kubelet_client_cert,
                self.kubelet_client_key,
                [],
                server=False,
            )
        if not self.sa_key.exists():
            key = _key()
            _write_key(self.sa_key, key)
            self.sa_pub.write_bytes(
                key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )

    def _make_ca(self) -> None:
        key = _key()
        now = datetime.datetime.now(datetime.UTC)
        name = _name("slipway-embedded-kubernetes-ca")
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALID_FOR)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256())
        )
        _write_key(self.ca_key, key)
        self.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    @staticmethod
    def _issue(
        ca: x509.Certificate,
        ca_key: rsa.RSAPrivateKey,
        subject: x509.Name,
        cert_path: Path,
        key_path: Path,
        hosts: list[str],
        *,
        server: bool,
    ) -> None:
        key = _key()
        now = datetime.datetime.now(datetime.UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALID_FOR)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if hosts:
            builder = builder.add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        _write_key(key_path, key)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _alt_names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _covers(cert_path: Path, hosts: list[str]) -> bool:
    """Whether the serving cert names every host (the node address may change between starts)."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {str(v) for v in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName))
    return set(hosts) <= have
