"""deploy/k8s/: every manifest valid for Kubernetes (kubernetes-validate, strict) and in step
with the code: probe paths are routes, ports agree, every variable is one the server reads,
the grace period outlasts preStop and GRACE_SECONDS (issue 15, item 5)."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

import cli
from settings import Settings
from tests.deploy_checks import (
    K8S,
    SECRETS,
    config,
    container,
    env_names,
    load_all,
    manifests,
    one,
    routes,
)

# the oldest Kubernetes the manifests are meant for, and the newest this kubernetes-validate knows
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")
NOT_APPLIED = {"kustomization.yaml", "secret.example.yaml"}


def test_the_kustomization_applies_every_manifest_but_the_secret_example() -> None:
    (kustomization,) = load_all(K8S / "kustomization.yaml")
    assert "namespace" not in kustomization
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in manifests() if p.name not in NOT_APPLIED)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", manifests(), ids=lambda p: p.name)
def test_each_manifest_is_valid_kubernetes(path: Path, version: str) -> None:
    for doc in load_all(path):
        kubernetes_validate.validate(doc, version, strict=True)


def test_kustomize_renders_them_all_valid_with_the_image_set() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: `kubectl kustomize` not checked")
    rendered = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True,
                              timeout=60)
    assert rendered.returncode == 0, rendered.stderr
    docs = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    applied = [doc for p in manifests() if p.name not in NOT_APPLIED for doc in load_all(p)]
    assert sorted(d["kind"] for d in docs) == sorted(d["kind"] for d in applied)
    (kustomization,) = load_all(K8S / "kustomization.yaml")
    (image,) = kustomization["images"]
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)
        for pod in ([doc["spec"]["template"]["spec"]] if "template" in doc.get("spec", {}) else []):
            assert {c["image"] for c in pod["containers"]} == {
                f"{image['name']}:{image['newTag']}"}


def test_strict_validation_refuses_a_misspelt_field() -> None:
    broken = copy.deepcopy(one("Deployment"))
    spec = broken["spec"]["template"]["spec"]["containers"][0]
    spec["readinesProbe"] = spec.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_probes_and_ports_are_the_servers() -> None:
    served = routes()
    server = container("Deployment")
    (port,) = server["ports"]
    assert server["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert server["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert server["startupProbe"]["httpGet"]["path"] in served
    assert {"/readyz", "/healthz", "/metrics"} <= served
    settings = Settings.from_env(config())
    assert port["containerPort"] == settings.port == Settings.from_env({}).port
    assert settings.host == "0.0.0.0"
    annotations = one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port["containerPort"])
    assert annotations["prometheus.io/path"] in served
    assert one("Service")["spec"]["ports"][0]["targetPort"] == port["name"]


def test_every_variable_set_is_one_the_server_reads() -> None:
    read = env_names()
    named = set(config())
    for kind in ("Deployment", "Job"):
        named |= {e["name"] for e in container(kind).get("env", [])}
    assert named - read == set(), "set in deploy/k8s/ but read by nothing"
    Settings.from_env(config())  # every value parses


def test_secrets_come_from_the_secret_and_never_the_configmap() -> None:
    example = set(one("Secret")["stringData"])
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container("Deployment")["env"]}
    assert set(refs) == SECRETS == example
    assert {r["name"] for r in refs.values()} == {one("Secret")["metadata"]["name"]}
    assert all(name == ref["key"] for name, ref in refs.items())
    assert not SECRETS & set(config())
    assert {e["name"] for e in container("Job")["env"]} == {"DATABASE_URL"}


def test_the_grace_period_outlasts_prestop_and_grace_seconds() -> None:
    pod = one("Deployment")["spec"]["template"]["spec"]
    command = container("Deployment")["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    grace = Settings.from_env(config()).grace_seconds
    assert grace == Settings.from_env({}).grace_seconds  # the default, stated in the ConfigMap
    assert pod["terminationGracePeriodSeconds"] > int(command[1]) + grace


def test_only_the_job_migrates() -> None:
    assert Settings.from_env(config()).migrate_on_start is False
    job = container("Job")
    assert job["args"] == ["python", "server.py", "migrate"]
    assert container("Deployment")["args"] == ["python", "server.py", "serve"]
    assert job["image"] == container("Deployment")["image"]
    for command in ("migrate", "serve"):
        with pytest.raises(SystemExit) as exit_:
            cli.main([command, "--help"])
        assert exit_.value.code == 0


def test_pods_run_as_the_images_user_on_a_read_only_root() -> None:
    for kind in ("Deployment", "Job"):
        pod = one(kind)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert container(kind)["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in container("Deployment")["volumeMounts"]}
    assert "/tmp" in mounts


def test_the_budget_the_autoscaler_and_the_service_select_the_api_pods() -> None:
    deployment = one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    job_labels = one("Job")["spec"]["template"]["metadata"]["labels"]
    for selector in (deployment["spec"]["selector"]["matchLabels"],
                     one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
                     one("Service")["spec"]["selector"]):
        assert selector.items() <= labels.items()
        assert not selector.items() <= job_labels.items()  # the Job's pod serves nothing
    hpa = one("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    minimum = one("PodDisruptionBudget")["spec"]["minAvailable"]
    assert hpa["minReplicas"] == deployment["spec"]["replicas"] > minimum == 1
    assert container("Deployment")["resources"]["requests"]["cpu"]
