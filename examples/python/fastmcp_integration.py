"""HospiAI API tokens in a Python FastMCP server (FastMCP >= 3).

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

Run the server (``pip install fastmcp``)::

    HOSPIAI_VALIDATION_URL=http://127.0.0.1:3000/api/mcp/validate python examples/python/fastmcp_integration.py

Environment: ``HOSPIAI_VALIDATION_URL`` (required), ``HOSPIAI_TIMEOUT`` (seconds,
default 10), ``MCP_HOST``/``MCP_PORT`` (default 127.0.0.1:8000), and for the
introspection variant ``HOSPIAI_VERIFIER=introspection``,
``HOSPIAI_INTROSPECTION_URL``, ``HOSPIAI_CLIENT_ID``, ``HOSPIAI_CLIENT_SECRET``.

Only ``SimpleHospiAIAuth`` is available when FastMCP is not installed: this file
imports without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Optional

# FastMCP is optional: SimpleHospiAIAuth works with the standard library alone.
try:  # pragma: no cover - depends on the environment
    import httpx
    from fastmcp import FastMCP
    from fastmcp.server.auth import AccessToken, TokenVerifier, require_scopes
    from fastmcp.server.auth.providers.introspection import IntrospectionTokenVerifier
    from fastmcp.server.dependencies import get_access_token

    HAVE_FASTMCP = True
except ImportError:  # pragma: no cover
    HAVE_FASTMCP = False


# ---------------------------------------------------------------------------
# 3. SimpleHospiAIAuth: synchronous, standard library only
# ---------------------------------------------------------------------------

_TOKEN_SYNTAX = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")


@dataclass
class ValidationResult:
    """What the service said about a token.

    ``reason`` is ``None`` when the token is valid, else one of ``invalid``,
    ``expired``, ``revoked``, ``insufficient_scope`` or ``unavailable``.
    ``data`` is the 200 answer of ``POST /api/mcp/validate`` when valid.
    """

    ok: bool
    reason: Optional[str] = None
    status: Optional[int] = None
    message: Optional[str] = None
    data: dict = field(default_factory=dict)


class SimpleHospiAIAuth:
    """Validates HospiAI API tokens with ``POST /api/mcp/validate``, synchronously.

    ``validate_token(token)`` returns the service's answer (a dict with
    ``user``, ``token``, ``scopes`` and ``exp``) or ``None``; ``check(token)``
    says why a token was refused. Never raises for a bad token or an unreachable
    service. Optional cache: ``cache_ttl`` seconds (0, the default, keeps
    nothing, so that a revocation is seen at once); a cached answer never
    outlives the token's ``exp``, and at most ``cache_max_entries`` answers are
    kept (expired ones are dropped first, then the oldest). The token is never
    kept, only its SHA-256.
    """

    _CODES = {"token_expired": "expired", "token_revoked": "revoked"}

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
        self.timeout = float(timeout if timeout is not None else os.environ.get("HOSPIAI_TIMEOUT", "10"))
        self.cache_ttl = float(cache_ttl)
        self.cache_max_entries = max(1, int(cache_max_entries))
        self._cache: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()

    def validate_token(self, token: str, required_scopes: Optional[list[str]] = None) -> Optional[dict]:
        """The service's answer for a valid token (holding ``required_scopes``), else ``None``."""
        result = self.check(token, required_scopes)
        return result.data if result.ok else None

    def check(self, token: str, required_scopes: Optional[list[str]] = None) -> ValidationResult:
        """Validates a token and says why it was refused, if it was."""
        if not isinstance(token, str) or not token or len(token) > 8192 or not _TOKEN_SYNTAX.match(token):
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
                status, text = response.status, response.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode("utf-8", "replace")
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            return ValidationResult(False, "unavailable", None, f"Service indisponible ({error})")
        try:
            payload = json.loads(text) if text else {}
        except ValueError:
            payload = {}
        if status == 200 and isinstance(payload, dict) and payload.get("valid") is True:
            return ValidationResult(True, None, 200, None, payload)
        message = payload.get("error") if isinstance(payload, dict) else None
        if status == 401:
            reason = self._CODES.get(payload.get("code") if isinstance(payload, dict) else None, "invalid")
            return ValidationResult(False, reason, status, message or "Token invalide")
        if status == 403:
            return ValidationResult(False, "insufficient_scope", status, message or "Scope insuffisant")
        return ValidationResult(False, "unavailable", status, message or "Service indisponible")


# ---------------------------------------------------------------------------
# 1. and 2. FastMCP verifiers, and the server with its two tools
# ---------------------------------------------------------------------------

if HAVE_FASTMCP:

    class HospiAITokenVerifier(TokenVerifier):
        """A FastMCP ``TokenVerifier`` backed by ``POST /api/mcp/validate``.

        Returns an ``AccessToken`` whose ``client_id`` is the HospiAI token id
        (``jti``), with the token's scopes, its expiry, and the user in
        ``claims``; ``None`` for any token the service refuses (FastMCP then
        answers 401). An unreachable service refuses the request too.
        """

        def __init__(self, validation_url: Optional[str] = None, timeout: Optional[float] = None, required_scopes: Optional[list[str]] = None):
            super().__init__(required_scopes=required_scopes)
            self.validation_url = validation_url or os.environ["HOSPIAI_VALIDATION_URL"]
            self.timeout = float(timeout if timeout is not None else os.environ.get("HOSPIAI_TIMEOUT", "10"))
            self._client = httpx.AsyncClient(timeout=self.timeout)

        async def verify_token(self, token: str) -> AccessToken | None:
            try:
                response = await self._client.post(self.validation_url, headers={"Authorization": f"Bearer {token}"}, json={})
            except httpx.HTTPError:
                return None
            if response.status_code != 200:
                return None
            data = response.json()
            if data.get("valid") is not True:
                return None
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
        cached answer lasts ``cache_ttl_seconds``.
        """
        return IntrospectionTokenVerifier(
            introspection_url=os.environ["HOSPIAI_INTROSPECTION_URL"],
            client_id=os.environ["HOSPIAI_CLIENT_ID"],
            client_secret=os.environ["HOSPIAI_CLIENT_SECRET"],
            client_auth_method="client_secret_basic",
            timeout_seconds=int(float(os.environ.get("HOSPIAI_TIMEOUT", "10"))),
            cache_ttl_seconds=int(os.environ.get("HOSPIAI_CACHE_TTL", "0")),
        )

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
        raise SystemExit("FastMCP is not installed: pip install fastmcp (SimpleHospiAIAuth works without it)")
    build_server().run(transport="http", host=os.environ.get("MCP_HOST", "127.0.0.1"), port=int(os.environ.get("MCP_PORT", "8000")))
