"""The Prefect server `pevl up` starts shuts the door: forged Origin / Host requests are refused.

Real servers on 127.0.0.1 (tests/servers.py, `pevl up`); requests are sent as a hostile web page's
browser would send them (a CORS preflight, a state-changing POST without a CSRF token).
Prefect does not check the Host header at all; the auth string (`pevl up --auth`, automatic
beyond loopback) is what refuses a DNS-rebinding page, and is tested here too.
"""

import json
import stat
import urllib.error
import urllib.request

import pytest

from pevl.services import security
from pevl.services import servers as services
from pevl.cli import main
from servers import drain_prefect_clients, prefect_server

EVIL = "http://evil.example"


def _send(url: str, method: str = "GET", headers: dict | None = None, body: dict | None = None):
    """(status, headers, text) of one raw request; HTTP errors are answers too."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={**({"Content-Type": "application/json"} if data else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    state = tmp_path_factory.mktemp("prefect-door")
    with prefect_server(state) as rec:
        yield rec


def test_forged_origin_preflight_is_not_allowed(server):
    url = f"http://127.0.0.1:{server.port}/api/deployments/filter"
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    status, headers, _ = _send(url, "OPTIONS", {"Origin": EVIL, **preflight})
    assert status == 400 and headers.get("access-control-allow-origin") not in (EVIL, "*")
    own = f"http://127.0.0.1:{server.port}"
    status, headers, _ = _send(url, "OPTIONS", {"Origin": own, **preflight})
    assert status == 200 and headers["access-control-allow-origin"] == own


def test_a_page_of_another_origin_cannot_read_a_csrf_token(server):
    status, headers, _ = _send(f"http://127.0.0.1:{server.port}/api/csrf-token?client=page", headers={"Origin": EVIL})
    assert status == 200  # the browser sends it, but without an allow-origin header the page cannot read it
    assert "access-control-allow-origin" not in headers


def test_state_changing_post_without_csrf_token_is_refused(server):
    api = services.prefect_api_url(server.port)
    for headers in ({"Origin": EVIL}, {"Origin": EVIL, "Host": "evil.example"}, {}):
        body = {"flow_id": "00000000-0000-0000-0000-000000000000"}
        status, _, text = _send(f"{api}/flow_runs/", "POST", headers, body)
        assert status == 403 and "CSRF" in text, (headers, status, text)
        status, _, _ = _send(f"{api}/deployments/filter", "POST", headers, {})
        assert status == 403, headers
    assert security.api_post(api, "deployments/filter", {}) == []  # with a token: answered


def test_prefect_does_not_check_host(server):
    # Recorded, not endorsed: a forged Host is answered. CSRF + CORS stop pages of other origins;
    # only the auth string stops a DNS-rebinding page (see test_auth_string_*).
    url = f"http://127.0.0.1:{server.port}/api/csrf-token?client=rebind"
    status, _, _ = _send(url, headers={"Host": "evil.example"})
    assert status == 200


def test_prefect_client_works_with_csrf_on(server):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.crash_detection import AUTOMATION_NAME, ensure_crash_automation

    with temporary_settings({PREFECT_API_URL: services.prefect_api_url(server.port)}):
        first = ensure_crash_automation()  # POSTs through Prefect's own client (it fetches the token)
        assert ensure_crash_automation() == first  # idempotent
    drain_prefect_clients()
    names = [a["name"] for a in security.api_post(services.prefect_api_url(server.port), "automations/filter", {})]
    assert names.count(AUTOMATION_NAME) == 1


def test_auth_string_is_required_and_kept_private(tmp_path, capsys):
    state = tmp_path / "state"
    ports = ["--prefect-port", str(services.free_port()), "--mlflow-port", str(services.free_port())]
    try:
        assert main(["up", "--state-dir", str(state), "--no-ui", "--auth", *ports]) == 0
        out = capsys.readouterr().out
        path = security.auth_path(state)
        assert f"cat {path}" in out and security.read_auth_string(state) not in out
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        prefect = services.running(state, "prefect")
        assert prefect.auth and security.read_auth_string(state) not in (state / "run" / "prefect.json").read_text()
        api = services.prefect_api_url(prefect.port)
        status, _, _ = _send(f"{api}/csrf-token?client=rebind", headers={"Host": "evil.example"})
        assert status == 401  # a DNS-rebinding page has no auth string
        assert services.is_healthy(f"{api}/health")  # health stays open for probes
        auth = security.read_auth_string(state)
        status, _, _ = _send(f"{api}/deployments/filter", "POST", security.auth_headers(auth), {})
        assert status == 403  # auth alone is not enough: CSRF still applies
        assert services.deployments(api, auth=auth) == []
        from pevl.commands.serve import service_env

        assert service_env(state)["PREFECT_API_AUTH_STRING"] == auth
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

        from flows.crash_detection import ensure_crash_automation

        with temporary_settings({PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: auth}):
            assert ensure_crash_automation()  # Prefect's own client: auth string + CSRF token
        drain_prefect_clients()
        mlflow = services.running(state, "mlflow")
        status, _, _ = _send(f"{mlflow.url}/api/2.0/mlflow/experiments/search?max_results=1",
                             headers={"Host": "evil.example"})
        assert status in (400, 403)  # MLflow's own Host check stays on
    finally:
        main(["down", "--state-dir", str(state)])


def test_beyond_loopback_needs_auth_and_mlflow_allowed_hosts(tmp_path):
    prefect = services.prefect_service(tmp_path, 4242, ui=False, host="192.0.2.10", auth="pevl:s3cret")
    assert prefect.env["PREFECT_SERVER_API_AUTH_STRING"] == "pevl:s3cret"
    assert prefect.env["PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED"] == "true"
    assert prefect.env["PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS"].split(",") == [
        "http://127.0.0.1:4242", "http://localhost:4242", "http://192.0.2.10:4242"]
    assert prefect.url == "http://192.0.2.10:4242"
    mlflow = services.mlflow_service(tmp_path, 5055, host="192.0.2.10")
    hosts = mlflow.command[mlflow.command.index("--allowed-hosts") + 1].split(",")
    assert "192.0.2.10:5055" in hosts and "localhost" in hosts and "evil.example" not in hosts
    assert "--allowed-hosts" not in services.mlflow_service(tmp_path, 5055).command  # loopback: MLflow's default
    loopback = services.prefect_service(tmp_path, 4242)
    assert "PREFECT_SERVER_API_AUTH_STRING" not in loopback.env
    assert loopback.env["PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED"] == "true"
