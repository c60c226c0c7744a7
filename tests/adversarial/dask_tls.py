"""Certificates for a Dask cluster that only the instructor can reach (tls://, mutual
authentication), and a stranger's, signed by a CA of their own: tests/test_dask.py."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, key, cert) -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization

    key_path, cert_path = path.with_suffix(".key"), path.with_suffix(".pem")
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(cert_path), str(key_path)


def make_ca(folder: Path, name: str) -> dict:
    """A CA and one certificate it signs (for scheduler, workers and client alike, valid for
    127.0.0.1): {"ca": ca.pem, "cert": ..., "key": ...}."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    ca_pem, _ = _write(folder / f"{name}-ca", ca_key, ca)
    key = _key()
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_pem, key_pem = _write(folder / name, key, cert)
    return {"ca": ca_pem, "cert": cert_pem, "key": key_pem}


def dask_env(certs: dict) -> dict[str, str]:
    """Dask's configuration, as environment variables, for a client with these certificates
    (what an instructor puts in ~/.config/dask/distributed.yaml)."""
    return {
        "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
        "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": certs["ca"],
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": certs["cert"],
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": certs["key"],
    }
