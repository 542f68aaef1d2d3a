"""Shared fixtures for the Python compatibility tests.

The tests prove that unmodified Python clients (the seed package ``ibmcloud_iam``
0.1.7 and IBM's official SDKs) work against the ``ibm-iam`` emulator. This file
uses only the standard library and pytest, so it serves both virtual
environments (seed and sdk) that ``run.sh`` creates.

One emulator process is started per test session, over HTTPS. Its self-issued
certificate is installed as the trust anchor through ``REQUESTS_CA_BUNDLE``
(requests) and ``SSL_CERT_FILE`` (urllib / OpenSSL defaults): TLS verification
stays on for every client.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import secrets
import shutil
import ssl
import string
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED_CONFIG = REPO_ROOT / "crates" / "ibm-iam-emulator" / "examples" / "seed.json"
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "ibm-iam"
STARTUP_TIMEOUT_SECONDS = float(os.environ.get("IBM_IAM_COMPAT_STARTUP_TIMEOUT", "30"))

# Identities from crates/ibm-iam-emulator/examples/seed.json.
SEED_ACCOUNT_ID = "5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e"
ALICE_APIKEY = "alice-apikey-0123456789abcdefghijklmnop"
ALICE_IAM_ID = "IBMid-550000ED6J"
BOOKS_SERVICE_ID = "ServiceId-9b1c7d4e-0000-4000-8000-000000000001"
BOOKS_APIKEY = "books-backend-apikey-0123456789abcdefghij"
BOOKS_PROFILE_ID = "Profile-3f0e2a9c-0000-4000-8000-000000000001"
BOOKS_PROFILE_NAME = "books-workload"

GRANT_APIKEY = "urn:ibm:params:oauth:grant-type:apikey"
GRANT_CR_TOKEN = "urn:ibm:params:oauth:grant-type:cr-token"


@dataclass
class Emulator:
    """A running emulator child process and what it told us at start-up."""

    url: str
    cert_path: str
    apikey: str
    process: subprocess.Popen
    stderr_path: Path
    _ssl_context: Optional[ssl.SSLContext] = field(default=None, repr=False)

    def stderr_tail(self, max_chars: int = 4000) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return "<no emulator stderr captured>"
        return text[-max_chars:]

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying TLS context that trusts only the emulator's certificate."""
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context(cafile=self.cert_path)
        return self._ssl_context

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call the emulator's control API (``/_emulator/...``) and return its JSON."""
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, context=self.ssl_context(), timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")
            raise AssertionError(
                f"emulator control call {method} {path} failed with HTTP {err.code}: {detail}"
            ) from None
        return json.loads(raw) if raw else None


def _random_apikey(length: int = 40) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _emulator_binary() -> Path:
    configured = os.environ.get("IBM_IAM_BIN")
    path = Path(configured) if configured else DEFAULT_BIN
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


def _read_lines(stream, sink: "queue.Queue[Optional[str]]") -> None:
    # Keeps draining stdout for the whole session so the child never blocks on a full pipe.
    for line in iter(stream.readline, ""):
        sink.put(line.rstrip("\r\n"))
    sink.put(None)


def _next_line(lines: "queue.Queue[Optional[str]]", deadline: float, what: str,
               process: subprocess.Popen, stderr_tail: Callable[[], str]) -> str:
    remaining = deadline - time.monotonic()
    try:
        line = lines.get(timeout=max(remaining, 0.01))
    except queue.Empty:
        raise RuntimeError(
            f"emulator did not print its {what} within {STARTUP_TIMEOUT_SECONDS:.0f} s;"
            f" stderr:\n{stderr_tail() or '<empty>'}"
        ) from None
    if line is None:
        try:
            code = process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = "still running, stdout closed"
        raise RuntimeError(
            f"emulator exited (exit code {code}) before printing its {what};"
            f" stderr:\n{stderr_tail() or '<empty>'}"
        )
    return line.strip()


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory) -> Emulator:
    """Start ``ibm-iam emulator`` over TLS with the seed configuration, for the whole session."""
    binary = _emulator_binary()
    if not binary.is_file():
        pytest.fail(f"emulator binary not found at {binary} (set IBM_IAM_BIN)", pytrace=False)

    workdir = tmp_path_factory.mktemp("emulator")
    cert_out = workdir / "cert.pem"
    stderr_path = workdir / "stderr.log"
    apikey = _random_apikey()
    command = [
        str(binary),
        "emulator",
        "--port", "0",
        "--tls",
        "--cert-out", str(cert_out),
        "--config", str(SEED_CONFIG),
        "--apikey", apikey,
    ]
    stderr_file = open(stderr_path, "w", encoding="utf-8")
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr_file,
        text=True,
        cwd=str(REPO_ROOT),
    )
    stderr_file.close()

    def stderr_tail() -> str:
        return stderr_path.read_text(errors="replace")[-4000:] if stderr_path.exists() else ""

    lines: "queue.Queue[Optional[str]]" = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()

    try:
        url, cert_path = _await_startup(lines, process, stderr_tail)
    except RuntimeError as err:
        failure = str(err)
    else:
        failure = None
    if failure is not None:
        _stop(process)
        pytest.fail(failure, pytrace=False)

    saved_env = {name: os.environ.get(name) for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")}
    # Real verification: every client in the session trusts exactly this certificate.
    os.environ["REQUESTS_CA_BUNDLE"] = cert_path
    os.environ["SSL_CERT_FILE"] = cert_path
    try:
        yield Emulator(url=url, cert_path=cert_path, apikey=apikey, process=process, stderr_path=stderr_path)
    finally:
        _stop(process)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        keep = os.environ.get("IBM_IAM_COMPAT_KEEP_LOG")
        if keep:
            shutil.copyfile(stderr_path, keep)


def _await_startup(lines, process, stderr_tail) -> "tuple[str, str]":
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    url = _next_line(lines, deadline, "base URL (first stdout line)", process, stderr_tail)
    cert_path = _next_line(lines, deadline, "certificate path (second stdout line)", process, stderr_tail)
    if not url.startswith("https://"):
        raise RuntimeError(f"expected an https:// base URL on the first stdout line, got {url!r}")
    if not Path(cert_path).is_file():
        raise RuntimeError(f"second stdout line {cert_path!r} is not an existing certificate file")
    if "BEGIN CERTIFICATE" not in Path(cert_path).read_text(errors="replace"):
        raise RuntimeError(f"{cert_path} does not hold a PEM certificate")
    return url.rstrip("/"), cert_path


@pytest.fixture(scope="session")
def iam_url(emulator: Emulator) -> str:
    return emulator.url


def decode_jwt_unverified(token: str) -> Dict[str, Any]:
    """Split a compact JWS and decode header and payload (no signature check: tests do that elsewhere)."""
    assert isinstance(token, str), f"token is not a string: {type(token)!r}"
    parts = token.split(".")
    assert len(parts) == 3, f"token is not a 3-part JWT: {len(parts)} parts"
    assert all(parts), "token has an empty JWT segment"

    def segment(text: str) -> Dict[str, Any]:
        padded = text + "=" * (-len(text) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))

    return {"header": segment(parts[0]), "claims": segment(parts[1]), "signature": parts[2]}


@pytest.fixture(scope="session")
def jwt_parts() -> Callable[[str], Dict[str, Any]]:
    return decode_jwt_unverified


def assert_iam_token(token: str, *, iam_id: str, grant_type: str, account_id: Optional[str] = None) -> Dict[str, Any]:
    """Common checks on an IAM access token; returns its claims."""
    parts = decode_jwt_unverified(token)
    header, claims = parts["header"], parts["claims"]
    assert header.get("alg") == "RS256", header
    assert header.get("kid"), f"token header has no kid: {header}"
    assert claims.get("iam_id") == iam_id, claims
    assert claims.get("id", iam_id) == iam_id, claims
    assert claims.get("grant_type") == grant_type, claims
    assert str(claims.get("iss", "")).startswith("https://iam"), claims
    assert "aud" not in claims, f"IAM access tokens carry no aud claim: {claims}"
    now = time.time()
    assert isinstance(claims.get("iat"), int) and isinstance(claims.get("exp"), int), claims
    assert claims["iat"] <= now + 5, claims
    assert claims["exp"] > now, claims
    assert claims["exp"] > claims["iat"], claims
    account = claims.get("account")
    assert isinstance(account, dict) and isinstance(account.get("bss"), str), claims
    if account_id is not None:
        assert account["bss"] == account_id, claims
    return claims


@pytest.fixture(scope="session")
def check_iam_token() -> Callable[..., Dict[str, Any]]:
    return assert_iam_token


@pytest.fixture(scope="session")
def seed_identities() -> Dict[str, str]:
    return {
        "account_id": SEED_ACCOUNT_ID,
        "alice_apikey": ALICE_APIKEY,
        "alice_iam_id": ALICE_IAM_ID,
        "books_service_id": BOOKS_SERVICE_ID,
        "books_iam_id": "iam-" + BOOKS_SERVICE_ID,
        "books_apikey": BOOKS_APIKEY,
        "books_profile_id": BOOKS_PROFILE_ID,
        "books_profile_iam_id": "iam-" + BOOKS_PROFILE_ID,
        "books_profile_name": BOOKS_PROFILE_NAME,
        "grant_apikey": GRANT_APIKEY,
        "grant_cr_token": GRANT_CR_TOKEN,
    }


@pytest.fixture
def cr_token_file(emulator: Emulator, tmp_path) -> Callable[..., Path]:
    """Mint a compute-resource token through the control API and write it to a file.

    The file holds the bare JWT with no trailing newline, as Kubernetes projects it.
    """
    counter = {"n": 0}

    def make(claims: Dict[str, Any]) -> Path:
        answer = emulator.control("POST", "/_emulator/cr-tokens", {"claims": claims})
        assert isinstance(answer, dict) and isinstance(answer.get("cr_token"), str), answer
        decode_jwt_unverified(answer["cr_token"])
        counter["n"] += 1
        path = tmp_path / f"cr-token-{counter['n']}"
        path.write_text(answer["cr_token"], encoding="utf-8")
        return path

    return make


def pytest_report_header(config) -> List[str]:
    return [f"ibm-iam emulator binary: {_emulator_binary()}", f"emulator config: {SEED_CONFIG}"]
