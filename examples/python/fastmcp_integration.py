"""HospiAI API tokens in a Python FastMCP server (FastMCP >= 3.0.0).

Three ways to check the tokens that MCP clients send as ``Authorization: Bearer``:

1. ``HospiAITokenVerifier``: a FastMCP ``TokenVerifier`` that asks
   ``POST /api/mcp/validate`` (the recommended way: the service answers with the
   user, the token and its scopes, and audits every call).
2. ``introspection_verifier()``: FastMCP's own ``IntrospectionTokenVerifier``
   against ``POST /api/oauth/introspect`` (RFC 7662), with the client id and
   secret of an MCP server registered by an admin (``POST /api/mcp/clients``).
3. ``SimpleHospiAIAuth``: a synchronous helper with the standard library only,
   for scripts, tests and frameworks without async support.

The tools ``get_patient`` (scope ``read:data``) and ``create_booking`` (scope
``write:bookings``) are guarded with ``require_scopes``.

FastMCP versions: the FastMCP part needs 3.0.0 or later (``require_scopes``,
``@mcp.tool(auth=...)`` and ``IntrospectionTokenVerifier(client_auth_method=...)``
appeared in 3.0.0); the introspection cache (``HOSPIAI_CACHE_TTL`` > 0, FastMCP's
``cache_ttl_seconds``) needs 3.1.0. ``HospiAITokenVerifier`` uses ``httpx``, which
FastMCP 3 installs.

An unreachable service is not an invalid token: ``SimpleHospiAIAuth.validate_token``
and ``HospiAITokenVerifier`` raise ``HospiAIUnavailable``, and the server built
here answers ``503`` to it (``RefuseWhenUnavailable``), never ``401``.

Run the server (``pip install 'fastmcp>=3.0.0'``)::

    HOSPIAI_VALIDATION_URL=http://127.0.0.1:3000/api/mcp/validate python examples/python/fastmcp_integration.py

Environment: ``HOSPIAI_VALIDATION_URL`` (required), ``HOSPIAI_TIMEOUT`` (seconds,
fractions allowed, default 10), ``MCP_HOST``/``MCP_PORT`` (default 127.0.0.1:8000),
and for the introspection variant ``HOSPIAI_VERIFIER=introspection``,
``HOSPIAI_INTROSPECTION_URL``, ``HOSPIAI_CLIENT_ID``, ``HOSPIAI_CLIENT_SECRET``,
``HOSPIAI_CACHE_TTL`` (whole seconds, default 0: no cache).

Without FastMCP (or with a FastMCP older than 3.0.0) this file still imports:
``SimpleHospiAIAuth``, ``HospiAIUnavailable`` and ``RefuseWhenUnavailable`` work
with the standard library alone, and ``FASTMCP_PROBLEM`` says what is missing.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import math
import os
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

_log = logging.getLogger("hospiai")

# ---------------------------------------------------------------------------
# FastMCP: which version is installed, and is it recent enough
# ---------------------------------------------------------------------------

#: ``require_scopes``, ``@mcp.tool(auth=...)`` and ``IntrospectionTokenVerifier(client_auth_method=...)``.
FASTMCP_MIN_VERSION = "3.0.0"
#: ``IntrospectionTokenVerifier(cache_ttl_seconds=...)``.
FASTMCP_CACHE_MIN_VERSION = "3.1.0"

_PRE_RELEASE = re.compile(r"^[.\-_]?(a|alpha|b|beta|c|rc|pre|preview|dev)", re.IGNORECASE)


def version_key(version: str) -> tuple[int, int, int, int]:
    """``"3.1.0"`` as ``(3, 1, 0, 1)``; a pre-release (``3.1.0rc1``, ``3.1.0.dev2``) sorts before its release."""
    match = re.match(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(.*)$", version)
    if not match:
        return (0, 0, 0, 0)
    major, minor, patch, rest = match.groups()
    return (int(major), int(minor or 0), int(patch or 0), 0 if _PRE_RELEASE.match(rest) else 1)


def installed_fastmcp_version() -> Optional[str]:
    """The installed FastMCP's version: from the package metadata, else the module's ``__version__``; ``None`` when absent."""
    for distribution in ("fastmcp", "fastmcp-slim"):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            pass
    if importlib.util.find_spec("fastmcp") is None:
        return None
    try:
        import fastmcp  # a copy without package metadata (vendored, or on PYTHONPATH)
    except Exception:  # a broken copy: its version cannot be vouched for
        return "unknown"
    return str(getattr(fastmcp, "__version__", "unknown"))


def fastmcp_problem(version: Optional[str], needed: str = FASTMCP_MIN_VERSION, what: str = "this example") -> Optional[str]:
    """Why FastMCP ``version`` cannot serve ``what`` (naming the version found and the one needed), or ``None``."""
    if version is None:
        return f"FastMCP is not installed: {what} needs FastMCP >= {needed} (pip install 'fastmcp>={needed}'); SimpleHospiAIAuth works without it"
    if version == "unknown" or version_key(version) < version_key(needed):
        found = "of an unknown version" if version == "unknown" else version
        return f"FastMCP {found} is installed, but {what} needs FastMCP >= {needed}: pip install -U 'fastmcp>={needed}'"
    return None


FASTMCP_VERSION = installed_fastmcp_version()
FASTMCP_PROBLEM = fastmcp_problem(FASTMCP_VERSION)

if FASTMCP_PROBLEM is None:  # pragma: no cover - depends on the environment
    try:
        from fastmcp import FastMCP
        from fastmcp.server.auth import AccessToken, TokenVerifier, require_scopes
        from fastmcp.server.auth.providers.introspection import IntrospectionTokenVerifier
        from fastmcp.server.dependencies import get_access_token
        from starlette.middleware import Middleware
    except ImportError as error:
        FASTMCP_PROBLEM = f"FastMCP {FASTMCP_VERSION} is installed, but importing what this example uses failed: {error}"
if FASTMCP_PROBLEM is None:  # pragma: no cover
    try:
        import httpx
    except ImportError:
        FASTMCP_PROBLEM = f"FastMCP {FASTMCP_VERSION} is installed without httpx, which HospiAITokenVerifier uses: pip install httpx"

HAVE_FASTMCP = FASTMCP_PROBLEM is None


# ---------------------------------------------------------------------------
# Settings from the environment
# ---------------------------------------------------------------------------


def timeout_seconds(value: Any = None, env: Optional[Mapping[str, str]] = None) -> float:
    """``value``, else ``HOSPIAI_TIMEOUT``, else 10: seconds per call to the service, fractions kept (``0.5`` stays 0.5)."""
    source = "timeout"
    if value is None:
        value = (os.environ if env is None else env).get("HOSPIAI_TIMEOUT", "10")
        source = "HOSPIAI_TIMEOUT"
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{source} must be a number of seconds greater than 0 (got {value!r})")
    return seconds


def introspection_settings(env: Optional[Mapping[str, str]] = None, fastmcp_version: Optional[str] = None) -> dict[str, Any]:
    """The arguments of FastMCP's ``IntrospectionTokenVerifier`` from the environment.

    ``cache_ttl_seconds`` is passed only when ``HOSPIAI_CACHE_TTL`` asks for a
    cache, so that FastMCP 3.0.x (which has no such argument) runs the variant
    without one; asking for a cache there raises a ``RuntimeError`` naming both
    versions.
    """
    env = os.environ if env is None else env
    settings: dict[str, Any] = {}
    for name, variable in (
        ("introspection_url", "HOSPIAI_INTROSPECTION_URL"),
        ("client_id", "HOSPIAI_CLIENT_ID"),
        ("client_secret", "HOSPIAI_CLIENT_SECRET"),
    ):
        if not env.get(variable):
            raise ValueError(f"{variable} must be set for the introspection variant")
        settings[name] = env[variable]
    settings["client_auth_method"] = "client_secret_basic"
    # FastMCP annotates timeout_seconds as int but hands it to httpx, which takes fractions.
    settings["timeout_seconds"] = timeout_seconds(env=env)
    raw_ttl = env.get("HOSPIAI_CACHE_TTL", "0")
    if not re.fullmatch(r"\d+", raw_ttl.strip()):
        raise ValueError(f"HOSPIAI_CACHE_TTL must be a whole number of seconds, 0 or more (got {raw_ttl!r})")
    ttl = int(raw_ttl)
    if ttl > 0:
        version = fastmcp_version if fastmcp_version is not None else FASTMCP_VERSION
        problem = fastmcp_problem(version, FASTMCP_CACHE_MIN_VERSION, f"HOSPIAI_CACHE_TTL={ttl} (cache_ttl_seconds)")
        if problem:
            raise RuntimeError(f"{problem}, or set HOSPIAI_CACHE_TTL=0")
        settings["cache_ttl_seconds"] = ttl
    return settings


# ---------------------------------------------------------------------------
# 3. SimpleHospiAIAuth: synchronous, standard library only
# ---------------------------------------------------------------------------

_TOKEN_SYNTAX = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")


class HospiAIUnavailable(Exception):
    """The token service gave no answer to trust: unreachable, timed out, or answering 429/5xx.

    Not a verdict on the token: a server answers ``503`` (``RefuseWhenUnavailable``
    does), never ``401``, and lets nothing through. ``status`` is the service's
    HTTP status when it answered; ``retry_after`` its ``Retry-After`` in seconds,
    when it sent one. The message never holds the token.
    """

    def __init__(self, message: str, status: Optional[int] = None, retry_after: Optional[int] = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass
class ValidationResult:
    """What the service said about a token.

    ``reason`` is ``None`` when the token is valid, else one of ``invalid``,
    ``expired``, ``revoked``, ``insufficient_scope`` or ``unavailable``.
    ``data`` is the 200 answer of ``POST /api/mcp/validate`` when valid.
    ``retry_after`` is the service's ``Retry-After`` (seconds), if any.
    """

    ok: bool
    reason: Optional[str] = None
    status: Optional[int] = None
    message: Optional[str] = None
    data: dict = field(default_factory=dict)
    retry_after: Optional[int] = None

    def unavailable_error(self) -> HospiAIUnavailable:
        """This result (``reason == "unavailable"``) as the exception to raise."""
        return HospiAIUnavailable(self.message or "Service indisponible", self.status, self.retry_after)


_CODES = {"token_expired": "expired", "token_revoked": "revoked"}


def well_formed_token(token: Any) -> bool:
    """Whether ``token`` can be a bearer token at all (RFC 6750 syntax, at most 8 KiB): others are refused unasked."""
    return isinstance(token, str) and 0 < len(token) <= 8192 and _TOKEN_SYNTAX.match(token) is not None


def interpret_answer(status: int, text: str, retry_after: Optional[str] = None) -> ValidationResult:
    """The answer of ``POST /api/mcp/validate`` as a ``ValidationResult`` (shared by both clients)."""
    try:
        payload = json.loads(text) if text else {}
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    if status == 200 and payload.get("valid") is True:
        return ValidationResult(True, None, 200, None, payload)
    message = payload.get("error") if isinstance(payload.get("error"), str) else None
    if status == 401:
        return ValidationResult(False, _CODES.get(payload.get("code"), "invalid"), status, message or "Token invalide")
    if status == 403:
        return ValidationResult(False, "insufficient_scope", status, message or "Scope insuffisant")
    # 429 (too many failures from this address), 500, 503, or anything unexpected: no verdict on the token.
    seconds = int(retry_after) if retry_after and retry_after.strip().isdigit() else None
    return ValidationResult(False, "unavailable", status, f"Service indisponible (HTTP {status})", retry_after=seconds)


class SimpleHospiAIAuth:
    """Validates HospiAI API tokens with ``POST /api/mcp/validate``, synchronously.

    ``check(token)`` says whether a token is good and why not; it never raises
    (an unreachable service is ``reason == "unavailable"``). ``validate_token(token)``
    returns the service's answer (a dict with ``user``, ``token``, ``scopes`` and
    ``exp``) or ``None`` for a refused token, and raises ``HospiAIUnavailable``
    when the service cannot answer, so that an outage is never mistaken for a
    bad token. ``timeout`` (else ``HOSPIAI_TIMEOUT``, else 10) is in seconds,
    fractions allowed. Optional cache: ``cache_ttl`` seconds (0, the default,
    keeps nothing, so that a revocation is seen at once); a cached answer never
    outlives the token's ``exp``, and at most ``cache_max_entries`` answers are
    kept (expired ones are dropped first, then the oldest). The token is never
    kept, only its SHA-256.
    """

    def __init__(
        self,
        validation_url: Optional[str] = None,
        timeout: Optional[float] = None,
        cache_ttl: float = 0.0,
        cache_max_entries: int = 1000,
    ):
        url = validation_url or os.environ.get("HOSPIAI_VALIDATION_URL")
        if not url or not re.match(r"^https?://", url):
            raise ValueError("validation_url (or HOSPIAI_VALIDATION_URL) must be the http(s) URL of POST /api/mcp/validate")
        self.validation_url = url
        self.timeout = timeout_seconds(timeout)
        self.cache_ttl = float(cache_ttl)
        self.cache_max_entries = max(1, int(cache_max_entries))
        self._cache: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()

    def validate_token(self, token: str, required_scopes: Optional[list[str]] = None) -> Optional[dict]:
        """The service's answer for a valid token (holding ``required_scopes``), ``None`` for a refused one.

        Raises ``HospiAIUnavailable`` when the service gives no answer to trust.
        """
        result = self.check(token, required_scopes)
        if result.reason == "unavailable":
            raise result.unavailable_error()
        return result.data if result.ok else None

    def check(self, token: str, required_scopes: Optional[list[str]] = None) -> ValidationResult:
        """Validates a token and says why it was refused, if it was."""
        if not well_formed_token(token):
            return ValidationResult(False, "invalid", None, "Token invalide")
        required = sorted(set(required_scopes or []))
        key = hashlib.sha256(token.encode("utf-8")).hexdigest()
        now = time.time()
        if self.cache_ttl > 0:
            with self._lock:
                hit = self._cache.get(key)
                if hit and hit[0] <= now:
                    del self._cache[key]
            if hit and hit[0] > now:
                data = hit[1]
                if all(s in data.get("scopes", []) for s in required):
                    return ValidationResult(True, None, 200, None, data)
                return ValidationResult(False, "insufficient_scope", 403, "Scope insuffisant", {})
        result = self._call(token, required)
        if result.ok and self.cache_ttl > 0:
            until = min(now + self.cache_ttl, float(result.data.get("exp", now)))
            with self._lock:
                self._cache.pop(key, None)
                self._cache[key] = (until, result.data)
                if len(self._cache) > self.cache_max_entries:
                    # Expired answers first (without this, every token ever seen stayed in memory), then the oldest.
                    for stale in [k for k, (expiry, _) in self._cache.items() if expiry <= now]:
                        del self._cache[stale]
                    while len(self._cache) > self.cache_max_entries:
                        del self._cache[next(iter(self._cache))]
        return result

    def evict_all(self) -> None:
        """Empties the cache."""
        with self._lock:
            self._cache.clear()

    def _call(self, token: str, required: list[str]) -> ValidationResult:
        body = json.dumps({"requiredScopes": required} if required else {}).encode("utf-8")
        request = urllib.request.Request(
            self.validation_url,
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, text, retry_after = response.status, response.read().decode("utf-8"), response.headers.get("Retry-After")
        except urllib.error.HTTPError as error:
            status, text, retry_after = error.code, error.read().decode("utf-8", "replace"), error.headers.get("Retry-After")
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            return ValidationResult(False, "unavailable", None, f"Service indisponible ({type(reason).__name__}: {reason})")
        return interpret_answer(status, text, retry_after)


class RefuseWhenUnavailable:
    """ASGI middleware: a ``HospiAIUnavailable`` raised below it becomes ``503``.

    Body ``{"error": "Service indisponible", "code": "service_unavailable"}``,
    with the service's ``Retry-After`` when it sent one, and one warning line in
    the ``hospiai`` log (without the token). Without it the exception would
    reach the ASGI server, which answers ``500``. An exception raised after the
    answer has started is left to the server.
    """

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: dict) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except HospiAIUnavailable as error:
            if started:
                raise
            _log.warning("HospiAI token service unavailable, %s %s refused with 503: %s", scope.get("method"), scope.get("path"), error)
            body = json.dumps({"error": "Service indisponible", "code": "service_unavailable"}).encode("utf-8")
            headers = [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"cache-control", b"no-store"),
            ]
            if error.retry_after is not None:
                headers.append((b"retry-after", str(max(1, error.retry_after)).encode("ascii")))
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------------
# 1. and 2. FastMCP verifiers, and the server with its two tools
# ---------------------------------------------------------------------------

if HAVE_FASTMCP:  # pragma: no cover - needs FastMCP >= 3.0.0

    class HospiAITokenVerifier(TokenVerifier):
        """A FastMCP ``TokenVerifier`` backed by ``POST /api/mcp/validate``.

        Returns an ``AccessToken`` whose ``client_id`` is the HospiAI token id
        (``jti``), with the token's scopes, its expiry, and the user in
        ``claims``; ``None`` for any token the service refuses (FastMCP then
        answers 401). When the service cannot answer it raises
        ``HospiAIUnavailable``, which the middleware it installs
        (``RefuseWhenUnavailable``) turns into ``503``.
        """

        def __init__(self, validation_url: Optional[str] = None, timeout: Optional[float] = None, required_scopes: Optional[list[str]] = None):
            super().__init__(required_scopes=required_scopes)
            self.validation_url = validation_url or os.environ.get("HOSPIAI_VALIDATION_URL", "")
            if not re.match(r"^https?://", self.validation_url):
                raise ValueError("validation_url (or HOSPIAI_VALIDATION_URL) must be the http(s) URL of POST /api/mcp/validate")
            self.timeout = timeout_seconds(timeout)
            self._client = httpx.AsyncClient(timeout=self.timeout)

        def get_middleware(self) -> list:
            # Outside FastMCP's AuthenticationMiddleware, which calls verify_token and lets its exceptions through.
            return [Middleware(RefuseWhenUnavailable), *super().get_middleware()]

        async def verify_token(self, token: str) -> AccessToken | None:
            if not well_formed_token(token):
                return None
            try:
                response = await self._client.post(self.validation_url, headers={"Authorization": f"Bearer {token}"}, json={})
            except httpx.HTTPError as error:
                raise HospiAIUnavailable(f"Service indisponible ({type(error).__name__})") from None
            result = interpret_answer(response.status_code, response.text, response.headers.get("retry-after"))
            if result.reason == "unavailable":
                raise result.unavailable_error()
            if not result.ok:
                return None
            data = result.data
            user = data["user"]
            return AccessToken(
                token=token,
                client_id=data["token"]["id"],
                scopes=list(data["scopes"]),
                expires_at=int(data["exp"]),
                claims={
                    "sub": user["id"],
                    "email": user["email"],
                    "name": user["name"],
                    "token_name": data["token"]["name"],
                },
            )

    def introspection_verifier() -> IntrospectionTokenVerifier:
        """FastMCP's RFC 7662 verifier against ``POST /api/oauth/introspect``.

        An admin registers the MCP server first (``POST /api/mcp/clients``) and
        gives it the client id and secret. ``client_id`` in the answer is the
        token id; ``sub`` the user id, ``username`` the user's email. Keep the
        cache short: a revoked token is refused at the next introspection, but a
        cached answer lasts ``cache_ttl_seconds`` (FastMCP >= 3.1.0). FastMCP's
        verifier treats an unreachable service as an inactive token (401, logged
        by FastMCP at debug level): use ``HospiAITokenVerifier`` to answer 503.
        """
        return IntrospectionTokenVerifier(**introspection_settings())

    PATIENTS = {
        "P-1001": {"name": "Jeanne Dupont", "birthDate": "1954-03-12", "ward": "Cardiologie"},
        "P-1002": {"name": "Louis Martin", "birthDate": "1987-11-02", "ward": "Pneumologie"},
    }

    def build_server(verifier: Optional[TokenVerifier] = None) -> FastMCP:
        """The MCP server with its two tools, protected by ``verifier``."""
        if verifier is None:
            verifier = introspection_verifier() if os.environ.get("HOSPIAI_VERIFIER") == "introspection" else HospiAITokenVerifier()
        mcp = FastMCP("HospiAI FastMCP example (Python)", auth=verifier)

        @mcp.tool(auth=require_scopes("read:data"))
        def get_patient(patient_id: str) -> dict[str, Any]:
            """Lire le dossier administratif d'un patient (scope read:data)."""
            access = get_access_token()
            patient = PATIENTS.get(patient_id)
            if patient is None:
                raise ValueError(f"Patient inconnu : {patient_id}")
            return {"patientId": patient_id, **patient, "consultedBy": (access.claims or {}).get("email") or (access.claims or {}).get("username")}

        @mcp.tool(auth=require_scopes("write:bookings"))
        def create_booking(patient_id: str, date: str) -> dict[str, Any]:
            """Créer un rendez-vous pour un patient (scope write:bookings)."""
            access = get_access_token()
            return {
                "bookingId": f"BK-{int(time.time() * 1000):x}",
                "patientId": patient_id,
                "date": date,
                "createdBy": (access.claims or {}).get("sub"),
            }

        return mcp


if __name__ == "__main__":  # pragma: no cover
    if not HAVE_FASTMCP:
        raise SystemExit(FASTMCP_PROBLEM)
    build_server().run(transport="http", host=os.environ.get("MCP_HOST", "127.0.0.1"), port=int(os.environ.get("MCP_PORT", "8000")))
