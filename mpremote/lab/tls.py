"""TLS material for the emulated lab: a throw-away CA and the certificates its hosts present.

Every lab generates its own CA at start and writes the CA certificate next to the targets
file, so clients keep TLS verification on (``ca_cert:``) instead of learning to turn it off.
The ``bad-cert`` fault needs a certificate a verifying client must reject for the right
reasons: it is issued by a different CA *and* names a different host.

Keys are ECDSA P-256: handshakes cost a fraction of RSA-2048's, which matters when the lab
is the load generator for hundreds of hosts.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import ipaddress
import logging
import os
import ssl
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

#: Names every good lab certificate is valid for: the loopback addresses and localhost.
LOOPBACK_NAMES: tuple[str, ...] = ("127.0.0.1", "::1", "localhost")
#: What a ``bad-cert`` host claims to be (nothing a client would ever connect to).
BAD_CERT_NAME = "not-this-host.invalid"

_VALIDITY = _dt.timedelta(days=30)
#: One SSLContext per certificate: 500 hosts share it instead of loading 500 copies.
_CONTEXTS: weakref.WeakValueDictionary[bytes, ssl.SSLContext] = weakref.WeakValueDictionary()


@dataclass(frozen=True)
class CertPair:
    """One certificate and its private key, PEM encoded."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def cert_der(self) -> bytes:
        return x509.load_pem_x509_certificate(self.cert_pem).public_bytes(serialization.Encoding.DER)

    def channel_binding_data(self) -> bytes:
        """RFC 5929 ``tls-server-end-point`` application data for this certificate.

        The hash follows the certificate's signature hash (SHA-256 here, and SHA-256 is also
        the rule's fallback for MD5/SHA-1), which is what pypsrp computes on its side.
        """
        return b"tls-server-end-point:" + hashlib.sha256(self.cert_der).digest()

    def server_context(self) -> ssl.SSLContext:
        """A server-side SSLContext presenting this certificate (TLS 1.2+); built once, shared."""
        cached = _CONTEXTS.get(self.cert_pem)
        if cached is not None:
            return cached
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        # load_cert_chain only reads files: write both to a private temp dir, load, delete.
        with tempfile.TemporaryDirectory(prefix="mpremote-lab-tls-") as tmp:
            cert_file = Path(tmp, "cert.pem")
            key_file = Path(tmp, "key.pem")
            cert_file.write_bytes(self.cert_pem)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.key_pem)
            ctx.load_cert_chain(cert_file, key_file)
        _CONTEXTS[self.cert_pem] = ctx
        return ctx


@dataclass(frozen=True)
class LabCertificates:
    """The lab CA, the certificate good hosts present, and the one ``bad-cert`` hosts present."""

    ca: CertPair
    server: CertPair
    bad: CertPair

    def write_ca(self, path: Path) -> Path:
        """Write the CA certificate (public, PEM) where clients will look for it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.ca.cert_pem)
        return path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _make_ca(common_name: str, now: _dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _make_leaf(
    names: tuple[str, ...],
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: _dt.datetime,
) -> CertPair:
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return CertPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def generate_lab_certificates(lab_name: str = "mpremote lab") -> LabCertificates:
    """Generate a fresh CA, a loopback server certificate and a mismatching one (~10 ms)."""
    now = _dt.datetime.now(_dt.UTC)
    ca_cert, ca_key = _make_ca(f"{lab_name} CA", now)
    server = _make_leaf(LOOPBACK_NAMES, ca_cert, ca_key, now)
    # The bad certificate: another issuer (a CA nobody was told to trust) and another name.
    rogue_cert, rogue_key = _make_ca(f"{lab_name} rogue CA", now)
    bad = _make_leaf((BAD_CERT_NAME,), rogue_cert, rogue_key, now)
    ca = CertPair(ca_cert.public_bytes(serialization.Encoding.PEM), _key_pem(ca_key))
    log.debug("generated lab certificates for %s", lab_name)
    return LabCertificates(ca=ca, server=server, bad=bad)
