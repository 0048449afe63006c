"""The emulator's TLS material: a private CA and a loopback server certificate it signs.

MSAL insists on an https authority, so the identity endpoints are served over TLS with a
certificate for ``127.0.0.1`` / ``localhost`` / ``::1``. Clients trust it by pointing at the CA
file (never the system store). The CA carries name constraints limiting it to loopback names,
so even a CA file trusted by mistake cannot vouch for any other host.

Files in a cert dir are reused while they are valid and consistent, and regenerated otherwise.
The CA's private key is discarded once the server certificate is signed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CA_FILE", "CERT_FILE", "KEY_FILE", "LOOPBACK_NAMES", "TLSFiles", "ensure_certificates"]

CA_FILE = "emulator-ca.pem"
CERT_FILE = "emulator-cert.pem"
KEY_FILE = "emulator-key.pem"
_LOCK_FILE = ".lock"

LOOPBACK_NAMES = ("localhost",)
LOOPBACK_IPS = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))

CA_LIFETIME = timedelta(days=3650)
CERT_LIFETIME = timedelta(days=397)
"""Browsers cap server certificates at 397 days; staying under it keeps the file usable anywhere."""
RENEW_BEFORE = timedelta(days=7)
"""A certificate expiring sooner than this is regenerated instead of reused."""


@dataclass(frozen=True)
class TLSFiles:
    """Paths of the PEM files: ``ca_cert`` is what clients trust; ``cert``/``key`` are the server's."""

    ca_cert: str
    cert: str
    key: str


def ensure_certificates(cert_dir: str | os.PathLike[str] | None = None) -> TLSFiles:
    """Valid TLS files in ``cert_dir`` (created, mode 0700), reusing what is there when it is valid.

    ``None`` makes a fresh private temporary directory; the caller owns it and removes it.
    """
    directory = Path(tempfile.mkdtemp(prefix="mfa-emulator-tls-")) if cert_dir is None else Path(cert_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = TLSFiles(str(directory / CA_FILE), str(directory / CERT_FILE), str(directory / KEY_FILE))
    with _locked(directory):
        if not _valid(files):
            _generate(directory, files)
    return files


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise generation between processes sharing one cert dir (POSIX advisory lock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: single writer assumed
        yield
        return
    fd = os.open(directory / _LOCK_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _valid(files: TLSFiles) -> bool:
    """Whether the files exist, parse, chain, match, cover loopback, and are not about to expire."""
    try:
        ca = x509.load_pem_x509_certificate(Path(files.ca_cert).read_bytes())
        cert = x509.load_pem_x509_certificate(Path(files.cert).read_bytes())
        key = serialization.load_pem_private_key(Path(files.key).read_bytes(), password=None)
        horizon = datetime.now(UTC) + RENEW_BEFORE
        if ca.not_valid_after_utc < horizon or cert.not_valid_after_utc < horizon:
            return False
        if datetime.now(UTC) < max(cert.not_valid_before_utc, ca.not_valid_before_utc):
            return False
        if cert.issuer != ca.subject:
            return False
        cert.verify_directly_issued_by(ca)
        if key.public_key().public_bytes(*_SPKI) != cert.public_key().public_bytes(*_SPKI):
            return False
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        if not set(LOOPBACK_NAMES) <= set(san.get_values_for_type(x509.DNSName)):
            return False
        if not set(LOOPBACK_IPS) <= set(san.get_values_for_type(x509.IPAddress)):
            return False
    except (OSError, ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return True


_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _generate(directory: Path, files: TLSFiles) -> None:
    now = datetime.now(UTC) - timedelta(minutes=5)  # tolerate small clock skew
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "MFA Rollout Console"),
        x509.NameAttribute(NameOID.COMMON_NAME, "MFA Rollout Console demo emulator CA"),
    ])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    permitted: list[x509.GeneralName] = [x509.DNSName(n) for n in LOOPBACK_NAMES]
    permitted += [x509.IPAddress(ipaddress.ip_network(f"{ip}/{ip.max_prefixlen}")) for ip in LOOPBACK_IPS]
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None),
                       critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + CERT_LIFETIME)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in LOOPBACK_NAMES] + [x509.IPAddress(ip) for ip in LOOPBACK_IPS]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    # The CA's private key is never written: it signs this one certificate and is forgotten, so
    # nothing on disk can mint another. The CA file goes last (see _valid for the consistency check).
    _write(Path(files.key), _private_pem(key))
    _write(Path(files.cert), cert.public_bytes(serialization.Encoding.PEM))
    _write(Path(files.ca_cert), ca.public_bytes(serialization.Encoding.PEM))


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes) -> None:
    """Write atomically (temp file + rename, ``0600``) so a concurrent reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.chmod(tmp, 0o600)  # the certificate too: the folder is private, and only this user's processes read it
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
