"""Key material of a sandbox data dir: a throwaway CA, the server certificate, and the key
pair of the OAuth client (JWT bearer flow).

All of it is created on the first start and reused afterwards, so a client that trusted the
CA (``REQUESTS_CA_BUNDLE``) or registered the consumer key keeps working across restarts.
Files holding private keys are written owner-only.
"""

from __future__ import annotations

import os
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

_CONSUMER_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._"


@dataclass(frozen=True)
class KeyFiles:
    ca_file: Path
    server_pem: Path  # private key + certificate chain
    private_key_file: Path  # the OAuth client's RSA key (signs JWT assertions)
    public_key_file: Path
    consumer_key_file: Path

    @classmethod
    def under(cls, data_dir: Path) -> KeyFiles:
        return cls(
            data_dir / "ca.pem",
            data_dir / "server.pem",
            data_dir / "jwt_private_key.pem",
            data_dir / "jwt_public_key.pem",
            data_dir / "consumer_key.txt",
        )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def ensure_keys(data_dir: Path) -> KeyFiles:
    """Create whatever key material is missing in ``data_dir``; return the file paths."""
    files = KeyFiles.under(data_dir)
    if not (files.ca_file.exists() and files.server_pem.exists()):
        ca = trustme.CA(organization_name="presales-sync sandbox")
        cert = ca.issue_cert("127.0.0.1", "localhost")
        _write_private(files.server_pem, cert.private_key_and_cert_chain_pem.bytes())
        files.ca_file.write_bytes(ca.cert_pem.bytes())
    if not (files.private_key_file.exists() and files.public_key_file.exists()):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_private(
            files.private_key_file,
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        files.public_key_file.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    if not files.consumer_key_file.exists():
        key_text = "3MVG9" + "".join(secrets.choice(_CONSUMER_ALPHABET) for _ in range(80))
        files.consumer_key_file.write_text(key_text + "\n", encoding="ascii")
    return files


def server_context(files: KeyFiles) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(files.server_pem))
    return ctx
