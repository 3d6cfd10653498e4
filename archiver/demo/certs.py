"""Real X.509 certificates with chosen defects, for the demo and the tests.

Each `kind` reproduces a failure the original sites show (SERIES-FACTS.md): a leaf from an
unknown issuer, self-signed, expired, not yet valid, for the wrong host, or several at once.
Built with `cryptography` alone so the offline demo needs no test-only package.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KINDS = ("valid", "self-signed", "untrusted", "expired", "not-yet-valid", "wrong-host",
         "expired-untrusted")
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class CertSet:
    """Files of one server identity: `chain` (leaf [+ issuer]) and `key` for the server,
    `ca` the bundle a client would have to trust, `fingerprint` the leaf's sha256 (hex)."""

    chain: Path
    key: Path
    ca: Path
    fingerprint: str


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lesson-archiver test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name)).issuer_name(_name(common_name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - 3650 * DAY).not_valid_after(now + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                       critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(hosts: list[str], issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
          not_before: dt.datetime, not_after: dt.datetime
          ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = _name(hosts[0])
    issuer_name, signing_key = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(signing_key, hashes.SHA256())
    )
    return cert, key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _leaf_of_kind(ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], kind: str,
                  hosts: list[str], now: dt.datetime
                  ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A leaf for `hosts` signed by `ca`, with the defect `kind` names."""
    if kind not in KINDS:
        raise ValueError(f"unknown certificate kind {kind!r}; expected one of {KINDS}")
    window = (now - DAY, now + 365 * DAY)
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = ca
    if kind == "self-signed":
        issuer = None
    elif kind in ("untrusted", "expired-untrusted"):
        issuer = _ca("unknown issuer CA")
    if kind in ("expired", "expired-untrusted"):
        window = (now - 400 * DAY, now - 30 * DAY)
    elif kind == "not-yet-valid":
        window = (now + 30 * DAY, now + 400 * DAY)
    elif kind == "wrong-host":
        hosts = ["other.example"]
    return _leaf(hosts, issuer, *window)


def _write_identity(folder: Path, leaf: x509.Certificate, key: ec.EllipticCurvePrivateKey,
                    ca_path: Path) -> CertSet:
    folder.mkdir(parents=True, exist_ok=True)
    chain = folder / "chain.pem"
    chain.write_bytes(_pem(leaf))  # leaf only: a missing intermediate, as on the real sites
    key_path = folder / "key.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    digest = hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest()
    return CertSet(chain=chain, key=key_path, ca=ca_path, fingerprint=digest)


def make_certs(folder: Path, kind: str = "valid", host: str = "127.0.0.1") -> CertSet:
    """Write a server identity of `kind` into `folder` and return its files.

    `ca` is always the bundle of the *test* CA: trusting it makes "valid" verify, while
    "untrusted" and "expired-untrusted" are signed by a second CA nobody is given.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown certificate kind {kind!r}; expected one of {KINDS}")
    folder.mkdir(parents=True, exist_ok=True)
    ca = _ca("lesson-archiver test CA")
    hosts = [host, "localhost"] if host != "localhost" else ["localhost", "127.0.0.1"]
    leaf, key = _leaf_of_kind(ca, kind, hosts, dt.datetime.now(dt.UTC))
    ca_path = folder / "ca.pem"
    ca_path.write_bytes(_pem(ca[0]))
    return _write_identity(folder, leaf, key, ca_path)


@dataclass(frozen=True)
class SiteCerts:
    """Identities of several host names under one test CA (`ca`): one leaf per host, each
    with its own defect, so one server can present a different certificate per SNI name."""

    ca: Path
    hosts: dict[str, CertSet]

    def __getitem__(self, host: str) -> CertSet:
        return self.hosts[host]


def make_site_certs(folder: Path, hosts: Sequence[str],
                    kinds: Mapping[str, str] | None = None) -> SiteCerts:
    """One test CA and a leaf per host name (kind "valid" unless `kinds` names another)."""
    unknown = set(kinds or {}) - set(hosts)
    if unknown:
        raise ValueError(f"certificate kinds given for hosts not served: {sorted(unknown)}")
    folder.mkdir(parents=True, exist_ok=True)
    ca = _ca("lesson-archiver test CA")
    ca_path = folder / "ca.pem"
    ca_path.write_bytes(_pem(ca[0]))
    now = dt.datetime.now(dt.UTC)
    identities = {}
    for index, host in enumerate(hosts):
        leaf, key = _leaf_of_kind(ca, (kinds or {}).get(host, "valid"), [host], now)
        identities[host] = _write_identity(folder / f"host-{index}", leaf, key, ca_path)
    return SiteCerts(ca=ca_path, hosts=identities)


def leaf_fingerprint(chain: Path) -> str:
    """sha256 (hex) of the first certificate in a PEM file: what a `pin:sha256:` names."""
    leaf = x509.load_pem_x509_certificate(chain.read_bytes())
    return hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest()


def cached_certs(folder: Path, kind: str, host: str = "127.0.0.1") -> tuple[CertSet, bool]:
    """The identity of `kind` kept in `folder`, made once and reused; (certs, made_now).

    A server whose certificate changed on every run would change its pin on every run, and
    every rerun would refetch. A new identity is made in a sibling folder and renamed into
    place, so an interrupted run never leaves a key that does not match its certificate.
    """
    record = folder / "identity.txt"
    chain, key, ca = folder / "chain.pem", folder / "key.pem", folder / "ca.pem"
    try:
        if record.read_text("utf-8").split() == [kind, host] and key.is_file() and ca.is_file():
            return CertSet(chain=chain, key=key, ca=ca, fingerprint=leaf_fingerprint(chain)), False
    except (OSError, ValueError):
        pass
    fresh = folder.with_name(f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}")
    made = make_certs(fresh, kind, host)
    (fresh / "identity.txt").write_text(f"{kind} {host}\n", "utf-8")
    if folder.exists():
        old = folder.with_name(f".{folder.name}.tmp-old-{uuid.uuid4().hex[:8]}")
        folder.rename(old)
        shutil.rmtree(old)
    fresh.rename(folder)
    return CertSet(chain=chain, key=key, ca=ca, fingerprint=made.fingerprint), True
