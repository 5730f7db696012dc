"""docker/: the compose stack's services and port bindings, and the images' pins.

There is no Docker engine here: the files are parsed and checked against pyproject.toml and the
Makefile, which is what `make install` uses.
"""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
DEFAULT = re.compile(r"\$\{(\w+):-([^}]*)\}")
REQUIRED = re.compile(r"\$\{(\w+):\?([^}]*)\}")
SECRETS = ("PEVL_DB_PASSWORD", "MINIO_ROOT_PASSWORD", "PEVL_PREFECT_AUTH")


def with_defaults(text: str) -> str:
    """Substitute ${VAR:-default} as compose does with VAR unset, and ${VAR:?msg} with `<VAR>`."""
    return REQUIRED.sub(lambda m: f"<{m.group(1)}>", DEFAULT.sub(lambda m: m.group(2), text))


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def pins() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return dict(d.split("==") for d in deps if "==" in d)


def makefile_rtmlib() -> str:
    return re.search(r"^RTMLIB\s*:=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M).group(1)


def run_lines(dockerfile: Path) -> str:
    """The RUN instructions of a Dockerfile, continuation lines joined."""
    text = dockerfile.read_text().replace("\\\n", " ")
    return "\n".join(line for line in text.splitlines() if line.startswith("RUN "))


def test_stack_has_every_service():
    services = compose()["services"]
    for name in ("prefect-server", "prefect-db", "mlflow", "mlflow-db", "minio", "worker"):
        assert name in services, name
    assert services["prefect-db"]["image"].startswith("postgres:")
    assert services["mlflow-db"]["image"].startswith("postgres:")
    assert services["minio"]["image"].startswith("minio/minio:")
    prefect_env = services["prefect-server"]["environment"]
    assert with_defaults(prefect_env["PREFECT_API_DATABASE_CONNECTION_URL"]).startswith(
        "postgresql+asyncpg://prefect:<PEVL_DB_PASSWORD>@prefect-db:5432/")
    mlflow_cmd = " ".join(services["mlflow"]["command"])
    assert with_defaults(services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"]).startswith(
        "postgresql+psycopg2://mlflow:<PEVL_DB_PASSWORD>@mlflow-db:5432/")
    assert "--backend-store-uri" not in mlflow_cmd  # the password stays off the command line
    assert "--artifacts-destination=s3://" in mlflow_cmd and "--workers=1" in mlflow_cmd
    assert services["mlflow"]["environment"]["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert services["worker"]["command"] == ["pevl", "worker", "--pool", "pevl-process"]
    deploy = services["deploy"]["command"][-1]
    assert "prefect work-pool create --type process pevl-process" in deploy
    assert "pevl deploy configs/demo.yaml --pool pevl-process" in deploy
    assert services["worker"]["depends_on"]["deploy"] == {"condition": "service_completed_successfully"}
    assert services["worker"]["environment"]["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert services["worker"]["environment"]["PREFECT_RUNNER_POLL_FREQUENCY"] == "1"


def test_compose_passes_what_pevl_up_and_pevl_worker_pass(tmp_path):
    """The variables tests/test_work_pool.py runs with: database URLs in each server's environment, worker polling."""
    from pevl.commands.deploy import WORKER_QUERY_S
    from pevl.services import servers as local

    services = compose()["services"]
    url = "postgresql://u:p@h:5432/d"
    for name, service in (("prefect-server", local.prefect_service(tmp_path, 1, db=url)),
                          ("mlflow", local.mlflow_service(tmp_path, 1, db=url))):
        (key, value), = [(k, v) for k, v in service.env.items() if v.startswith("postgresql")]
        assert services[name]["environment"][key].split("://")[0] == value.split("://")[0], name
    assert services["worker"]["environment"]["PREFECT_WORKER_QUERY_SECONDS"] == WORKER_QUERY_S
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["postgres"]
    assert all(pin in (DOCKER / "cpu.Dockerfile").read_text() for pin in extra)


def test_published_ports_bind_localhost_by_default():
    published = []
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            published.append((name, with_defaults(str(port))))
    assert {n for n, _ in published} >= {"prefect-server", "mlflow"}
    for name, port in published:
        assert port.startswith("127.0.0.1:"), f"{name} publishes {port}"
    for name in ("prefect-db", "mlflow-db", "minio-init"):
        assert "ports" not in compose()["services"][name]


@pytest.mark.parametrize("dockerfile", ["cpu.Dockerfile", "cuda.Dockerfile"])
def test_images_install_the_same_pins(dockerfile):
    path = DOCKER / dockerfile
    runs = run_lines(path)
    assert re.search(r"pip install \.(\s|$)", runs), "pyproject.toml's pins are installed with `pip install .`"
    assert f"pip install --no-deps {makefile_rtmlib()}" in runs
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    python = re.search(r"(\d+\.\d+)", requires).group(1)
    assert f"python:{python}" in path.read_text() or f"python{python}" in path.read_text()
    copied = set(re.findall(r"^COPY (\S+) \./", path.read_text(), re.M))
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert {p.rstrip("*") for p in packages["include"]} <= copied
    for pinned in re.findall(r"pip install [^&\n]*", runs):
        for req in pinned.split()[2:]:
            if not req.startswith("-") and req != ".":
                assert "==" in req, f"{dockerfile}: {req} is not pinned"


def test_cuda_image_swaps_onnxruntime_for_the_gpu_build():
    text = (DOCKER / "cuda.Dockerfile").read_text()
    runs = run_lines(DOCKER / "cuda.Dockerfile")
    assert "pip uninstall -y onnxruntime" in runs
    gpu = re.search(r"ARG ONNXRUNTIME_GPU=(\S+)", text).group(1)
    assert "onnxruntime-gpu==${ONNXRUNTIME_GPU}" in runs
    # onnxruntime-gpu lags the CPU wheel on PyPI; it must stay within the same major version.
    assert gpu.split(".")[0] == pins()["onnxruntime"].split(".")[0]
    assert runs.index("pip uninstall -y onnxruntime") < runs.index("onnxruntime-gpu==")
    gpu_override = yaml.safe_load((DOCKER / "compose.gpu.yaml").read_text())["services"]["worker"]
    assert gpu_override["build"]["dockerfile"] == "docker/cuda.Dockerfile"
    assert gpu_override["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_images_build_from_the_repository_root():
    for name, service in compose()["services"].items():
        if "build" in service:
            assert service["build"]["context"] == "..", name
            assert (ROOT / service["build"]["dockerfile"]).is_file(), name


def test_secrets_have_no_defaults_and_compose_refuses_to_start_without_them():
    text = (DOCKER / "compose.yaml").read_text()
    defaulted = {m.group(1) for m in DEFAULT.finditer(text)}
    required = {m.group(1): m.group(2) for m in REQUIRED.finditer(text)}
    for name in SECRETS:
        assert name not in defaulted, f"{name} falls back to a default"
        assert name in required and required[name].strip(), f"{name} is not required with a message"
    assert not any("PASSWORD" in name or "AUTH" in name or "SECRET" in name for name in defaulted), defaulted


def test_prefect_server_shuts_the_door_and_clients_carry_the_auth_string():
    services = compose()["services"]
    env = {k: with_defaults(str(v)) for k, v in services["prefect-server"]["environment"].items()}
    assert env["PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED"] == "true"
    assert env["PREFECT_SERVER_API_AUTH_STRING"] == "<PEVL_PREFECT_AUTH>"
    assert "*" not in env["PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS"]
    assert set(env["PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS"].split(",")) == {
        "http://127.0.0.1:4200", "http://localhost:4200"}
    for client in ("deploy", "worker", "dask-worker"):
        client_env = services[client]["environment"]
        assert with_defaults(client_env["PREFECT_API_AUTH_STRING"]) == "<PEVL_PREFECT_AUTH>", client
        assert client_env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30", client
    assert any(arg.startswith("--allowed-hosts=") for arg in services["mlflow"]["command"])
