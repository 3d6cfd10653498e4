"""The test infrastructure itself: certificates really have the defects they claim."""

from __future__ import annotations

import ssl
from collections.abc import Callable

import httpx
import pytest

from archiver.demo.certs import CertSet
from archiver.demo.server import Fault, MediaServer, Resource


def _verify_code(exc: BaseException) -> int | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen.verify_code
        seen = seen.__cause__ or seen.__context__
    return None


@pytest.mark.parametrize(("kind", "code"), [
    ("self-signed", 18), ("untrusted", 20), ("expired", 10), ("not-yet-valid", 9),
    ("wrong-host", 64), ("expired-untrusted", 20),
])
def test_each_defect_fails_verification_as_openssl_reports_it(
        kind: str, code: int, cert_factory: Callable[[str], CertSet],
        serve: Callable[..., MediaServer]) -> None:
    certs = cert_factory(kind)
    server = serve({"/m": Resource(b"data")}, certs)
    context = ssl.create_default_context(cafile=str(certs.ca))
    with pytest.raises(httpx.ConnectError) as caught:
        httpx.get(server.url("/m"), verify=context)
    assert _verify_code(caught.value) == code


def test_valid_certificate_ranges_and_scripted_faults(
        cert_factory: Callable[[str], CertSet], serve: Callable[..., MediaServer]) -> None:
    certs = cert_factory("valid")
    body = bytes(range(256)) * 1000
    server = serve({"/m": Resource(body, faults=[Fault(status=503, retry_after="1")])}, certs)
    context = ssl.create_default_context(cafile=str(certs.ca))
    with httpx.Client(verify=context) as client:
        first = client.get(server.url("/m"))
        assert (first.status_code, first.headers["retry-after"]) == (503, "1")
        part = client.get(server.url("/m"), headers={"Range": "bytes=1000-"})
        assert part.status_code == 206 and part.content == body[1000:]
        stale = client.get(server.url("/m"),
                           headers={"Range": "bytes=1000-", "If-Range": '"other"'})
        assert stale.status_code == 200 and stale.content == body
    assert [r.status for r in server.requests] == [503, 206, 200]
