"""The local servers' door: Prefect's CSRF protection, CORS limited to its own UI, an auth string.

`pevl up` starts Prefect with CSRF protection on (state-changing requests need a token from
GET /api/csrf-token, which a page of another origin cannot read, because CORS allows only the
server's own origins). Prefect does not check the Host header, so a DNS-rebinding page looks
same-origin to the browser: the auth string closes that. It is on whenever the server is bound
beyond loopback (and by `pevl up --auth` on loopback too); it lives in `<state>/prefect-auth`,
mode 0600, and `pevl serve`, the workers and the CLI send it as PREFECT_API_AUTH_STRING.
"""

import base64
import json
import os
import secrets
import socket
import urllib.error
import urllib.request
import uuid
from pathlib import Path

LOOPBACK = ("127.0.0.1", "localhost", "::1")
AUTH_USER = "pevl"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.1 / localhost / ::1 (and the rest of 127.0.0.0/8)."""
    return host in LOOPBACK or host.startswith("127.")


def own_origins(host: str, port: int) -> list[str]:
    """The origins of the server's own UI: loopback names, plus the bound host (or this machine's names)."""
    names = ["127.0.0.1", "localhost"]
    if host in ("0.0.0.0", "::"):
        names += [socket.gethostname(), socket.getfqdn()]
    elif not is_loopback(host):
        names.append(host)
    return [f"http://{n}:{port}" for n in dict.fromkeys(names)]


def auth_path(state: Path) -> Path:
    """<state>/prefect-auth: the Prefect server's auth string (user:password), mode 0600."""
    return state / "prefect-auth"


def read_auth_string(state: Path) -> str | None:
    """The stored auth string, or None when the server runs without one."""
    path = auth_path(state)
    return (path.read_text().strip() or None) if path.is_file() else None


def ensure_auth_string(state: Path) -> str:
    """The stored auth string, created (random, mode 0600 from the start) when there is none."""
    existing = read_auth_string(state)
    if existing:
        return existing
    state.mkdir(parents=True, exist_ok=True)
    value = f"{AUTH_USER}:{secrets.token_urlsafe(24)}"
    fd = os.open(auth_path(state), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    os.chmod(auth_path(state), 0o600)
    return value


def prefect_server_env(host: str, port: int, auth: str | None) -> dict[str, str]:
    """Server settings: CSRF on, CORS limited to the server's own origins, the auth string if any,
    and the event services crash detection needs (flows/crash_detection.py)."""
    env = {"PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED": "true",
           # crash detection needs these services: on by default, set here so a profile cannot turn them off
           "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "true", "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "true",
           "PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS": ",".join(own_origins(host, port)),
           "PREFECT_SERVER_API_CORS_ALLOWED_METHODS": "GET,POST,PUT,PATCH,DELETE,OPTIONS"}
    if auth:
        env["PREFECT_SERVER_API_AUTH_STRING"] = auth
    return env


def mlflow_allowed_hosts(host: str, port: int) -> list[str]:
    """`mlflow server --allowed-hosts` beyond loopback: the bound host and loopback names, with and without port."""
    names = ["127.0.0.1", "localhost"]
    names += [socket.gethostname(), socket.getfqdn()] if host in ("0.0.0.0", "::") else [host]
    names = list(dict.fromkeys(names))
    return names + [f"{n}:{port}" for n in names]


def auth_headers(auth: str | None) -> dict[str, str]:
    """The HTTP Basic header Prefect's server checks, or nothing."""
    if not auth:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}


def csrf_headers(api_url: str, auth: str | None, timeout: float = 5.0) -> dict[str, str]:
    """A fresh CSRF token for a new client id ({} when the server has CSRF protection off)."""
    client = str(uuid.uuid4())
    req = urllib.request.Request(f"{api_url}/csrf-token?client={client}", headers=auth_headers(auth))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            token = json.loads(resp.read())["token"]
    except urllib.error.HTTPError as e:
        if e.code == 422:  # "CSRF protection is disabled"
            return {}
        raise
    return {"Prefect-Csrf-Token": token, "Prefect-Csrf-Client": client}


def api_post(api_url: str, path: str, body: dict, auth: str | None = None, timeout: float = 5.0):
    """POST JSON to the Prefect API with its auth string and a CSRF token; the decoded answer."""
    headers = {"Content-Type": "application/json", **auth_headers(auth), **csrf_headers(api_url, auth, timeout)}
    req = urllib.request.Request(f"{api_url}/{path}", data=json.dumps(body).encode(), method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())
