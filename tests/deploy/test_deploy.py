"""deploy/ checked as far as the tools here allow: no Docker engine or cluster runs here,
so files are linted and validated against their schemas, and the references between
them (ports, names, paths, settings keys, commands) are checked to agree."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from stream_ae.cli.main import parser
from stream_ae.runtime.health import Health
from stream_ae.runtime.prometheus import tool
from stream_ae.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
KUBE = DEPLOY / "kubernetes"
METRICS_PORT = int(Settings().metrics.address.rsplit(":", 1)[1])


def executable(name: str) -> str:
    """A linter installed with the test extras, beside this Python."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is missing: pip install -e '.[test]'")
    return found


# -- Dockerfile ----------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    linted = subprocess.run(
        [executable("hadolint"), str(DOCKERFILE)], capture_output=True, text=True
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_dockerfile_pins_torch_as_pyproject_does_and_copies_what_exists() -> None:
    text = DOCKERFILE.read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (torch_pin,) = [d for d in pyproject["project"]["dependencies"] if d.startswith("torch")]
    assert f"ARG TORCH_VERSION={torch_pin.split('==')[1]}" in text
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in text  # CPU by default
    assert "--build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu" in text  # CUDA variant
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.M)
    sources = [s for line in copied for s in line.split()]
    assert sources and all((ROOT / s).exists() for s in sources), sources
    ignore = (DEPLOY / "docker" / "Dockerfile.dockerignore").read_text()
    assert all(f"!{s.rstrip('/')}" in ignore for s in sources)  # kept in the build context
    assert f"EXPOSE {METRICS_PORT}" in text
    assert f"127.0.0.1:{METRICS_PORT}/healthz" in text  # the health check: liveness
    assert 'ENTRYPOINT ["stream-ae"]' in text and 'CMD ["run"]' in text


# -- compose -------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def test_compose_file_matches_the_compose_spec() -> None:
    checked = subprocess.run(
        [executable("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_compose_services_agree_with_each_other() -> None:
    services = compose()["services"]
    assert set(services) == {"kafka", "detector", "prometheus", "grafana"}
    for service in services.values():  # every bind mount names a file of the repo
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), volume
    build = services["detector"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE

    kafka = services["kafka"]["environment"]  # a single KRaft node, no ZooKeeper
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{kafka['KAFKA_NODE_ID']}@kafka:9093"
    internal = kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")[0].split("://")[1]
    detector = services["detector"]["environment"]
    assert detector["STREAM_AE_KAFKA__BOOTSTRAP"] == internal

    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = scrape["scrape_configs"]
    assert job["job_name"] == "stream-ae"  # what the rules and the dashboard expect
    assert job["dns_sd_configs"][0]["names"] == ["detector"]
    assert job["dns_sd_configs"][0]["port"] == METRICS_PORT


def test_compose_detector_settings_load(monkeypatch: pytest.MonkeyPatch) -> None:
    detector = compose()["services"]["detector"]
    targets = {v.split(":")[1]: v.split(":")[0] for v in detector["volumes"]}
    env = detector["environment"]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # The container's config path, read from the file mounted there.
    monkeypatch.setenv("STREAM_AE_CONFIG", str(COMPOSE.parent / targets[env["STREAM_AE_CONFIG"]]))
    settings = load_settings()
    assert settings.kafka.bootstrap == "kafka:9092"
    # The image puts models in /var/lib/stream-ae/models; compose keeps them on a volume.
    assert "STREAM_AE_MODEL__ARTIFACT_DIR=/var/lib/stream-ae/models" in DOCKERFILE.read_text()
    assert targets["/var/lib/stream-ae/models"] == "models"


def test_prometheus_config_and_grafana_provisioning_load() -> None:
    checked = subprocess.run(
        [tool("promtool"), "check", "config", "prometheus.yml"],
        cwd=DEPLOY / "prometheus",
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    grafana = DEPLOY / "grafana" / "provisioning"
    (source,) = yaml.safe_load((grafana / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((grafana / "dashboards" / "stream-ae.yml").read_text())[
        "providers"
    ]
    mounted = [v.split(":")[1] for v in compose()["services"]["grafana"]["volumes"]]
    assert f"{provider['options']['path']}/stream-ae.json" in mounted


# -- Kubernetes ----------------------------------------------------------------------


def manifests() -> dict[str, dict[str, Any]]:
    """Every resource of the kustomization, by kind."""
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    files = sorted(p.name for p in KUBE.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == files  # nothing left out, nothing missing
    return {
        doc["kind"]: doc for name in files for doc in [yaml.safe_load((KUBE / name).read_text())]
    }


@pytest.mark.parametrize(
    "kind",
    [
        "Namespace",
        "ConfigMap",
        "Secret",
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
        "CronJob",
    ],
)
def test_manifest_is_valid_for_kubernetes(kind: str) -> None:
    version = kubernetes_validate.latest_version()
    kubernetes_validate.validate(manifests()[kind], version, strict=True)


def pod_specs() -> dict[str, dict[str, Any]]:
    m = manifests()
    return {
        "Deployment": m["Deployment"]["spec"]["template"]["spec"],
        "CronJob": m["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"],
    }


def test_pods_reference_what_the_manifests_define(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    m = manifests()
    secret_keys = set(m["Secret"]["stringData"])
    config_text = m["ConfigMap"]["data"]["stream-ae.toml"]
    for owner, pod in pod_specs().items():
        (container,) = pod["containers"]
        assert container["image"] == "stream-ae", owner  # rewritten by the kustomization
        volumes = {v["name"]: v for v in pod["volumes"]}
        for mount in container["volumeMounts"]:
            assert mount["name"] in volumes, (owner, mount)
        assert volumes["config"]["configMap"]["name"] == m["ConfigMap"]["metadata"]["name"]
        assert (
            volumes["models"]["persistentVolumeClaim"]["claimName"]
            == (m["PersistentVolumeClaim"]["metadata"]["name"])
        )
        tls = volumes["kafka-tls"]["secret"]
        assert tls["secretName"] == m["Secret"]["metadata"]["name"]
        assert {item["key"] for item in tls["items"]} <= secret_keys
        env = {e["name"]: e for e in container["env"]}
        for e in env.values():
            if "valueFrom" in e:
                ref = e["valueFrom"]["secretKeyRef"]
                assert ref["name"] == m["Secret"]["metadata"]["name"] and ref["key"] in secret_keys
                monkeypatch.setenv(e["name"], m["Secret"]["stringData"][ref["key"]])

        # The settings this pod would load: the ConfigMap's TOML plus the Secret's env.
        mounts = {v["mountPath"]: v for v in container["volumeMounts"]}
        assert env["STREAM_AE_CONFIG"]["value"] in mounts
        settings = load_settings(_write(tmp_path / f"{owner}.toml", config_text))
        password = settings.kafka.sasl_password
        assert (
            password is not None
            and password.get_secret_value() == m["Secret"]["stringData"]["sasl-password"]
        )
        assert settings.kafka.security_protocol == "SASL_SSL"
        cafile = settings.kafka.ssl_cafile
        assert cafile is not None and str(cafile.parent) in mounts
        assert str(settings.model.artifact_dir) == mounts["/var/lib/stream-ae/models"]["mountPath"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_detectors_are_one_consumer_group_scraped_as_the_rules_expect(tmp_path: Path) -> None:
    m = manifests()
    deployment, service, monitor = m["Deployment"], m["Service"], m["ServiceMonitor"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["metadata"]["labels"]  # for the Prometheus resource's serviceMonitorSelector
    assert set(monitor["spec"]) <= {"jobLabel", "selector", "endpoints", "namespaceSelector"}
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "stream-ae"  # job
    (endpoint,) = monitor["spec"]["endpoints"]
    (port,) = service["spec"]["ports"]
    assert endpoint["port"] == port["name"] and endpoint["path"] == "/metrics"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports[port["targetPort"]] == port["port"] == METRICS_PORT
    settings = load_settings(_write(tmp_path / "c.toml", m["ConfigMap"]["data"]["stream-ae.toml"]))
    assert settings.metrics.address.endswith(f":{METRICS_PORT}")
    assert 1 < deployment["spec"]["replicas"] <= settings.kafka.partitions  # none sits idle
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30


def test_detector_probes_are_the_paths_the_service_serves() -> None:
    (container,) = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    served = Health(set).probes()
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz" and "/readyz" in served
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz" and "/healthz" in served
    assert container["readinessProbe"]["httpGet"]["port"] == "metrics"
    assert container["livenessProbe"]["httpGet"]["port"] == "metrics"


def test_retrain_cronjob_runs_daily_without_overlap() -> None:
    cron = manifests()["CronJob"]["spec"]
    fields = cron["schedule"].split()
    assert len(fields) == 5 and fields[2:] == ["*", "*", "*"]
    assert cron["concurrencyPolicy"] == "Forbid"
    (container,) = pod_specs()["CronJob"]["containers"]
    assert container["args"][0] == "retrain"


def test_every_command_deploy_runs_is_a_stream_ae_command() -> None:
    dockerfile = re.search(r"^CMD \[(.+)\]$", DOCKERFILE.read_text(), flags=re.M)
    assert dockerfile is not None
    command_lines = {
        "Dockerfile": [part.strip(' "') for part in dockerfile[1].split(",")],
        "compose": compose()["services"]["detector"]["command"],
        "Deployment": pod_specs()["Deployment"]["containers"][0]["args"],
        "CronJob": pod_specs()["CronJob"]["containers"][0]["args"],
    }
    for where, args in command_lines.items():
        parsed = parser().parse_args(args)  # exits (fails the test) on an unknown command
        assert parsed.command == args[0], where
