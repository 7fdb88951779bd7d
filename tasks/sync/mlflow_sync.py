"""Sync to an MLflow tracking server through its REST API (no MLflow client needed in this install).

Each model becomes a registered model, each version a model version tagged ``modelctl.*`` (digest,
provider, model id, the full configuration, lineage, the latest evaluation), each environment an alias
(``production``, ``staging``, ``development``). A registered-model tag ``modelctl.aliases`` keeps the
aliases as last synced, so an alias moved by hand in MLflow is reported as drift (and then reset).
Decide, then apply: ``plan_model_sync`` is pure; ``sync_mlflow`` reads the server once and applies it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from registry.entities import ModelRecord
from registry.errors import StoreUnavailable
from tasks.sync.mapping import ExportedModel, export_model

PREFIX = "modelctl."
TAG_LIMIT = 5000  # MLflow's model-version tag value limit; longer values are split into .0, .1, ...


def version_tags(v_meta: dict[str, str]) -> dict[str, str]:
    """``modelctl.*`` tags of one version, long values split into numbered parts."""
    out: dict[str, str] = {}
    for key, value in v_meta.items():
        if len(value) <= TAG_LIMIT:
            out[PREFIX + key] = value
        else:
            parts = [value[i:i + TAG_LIMIT] for i in range(0, len(value), TAG_LIMIT)]
            out[f"{PREFIX}{key}.parts"] = str(len(parts))
            out.update({f"{PREFIX}{key}.{i}": p for i, p in enumerate(parts)})
    return out


@dataclass(frozen=True)
class RemoteModel:
    """What the MLflow server holds for one registered model."""

    name: str
    tags: dict[str, str]
    aliases: dict[str, str]  # alias -> MLflow version
    versions: dict[int, tuple[str, dict[str, str]]]  # modelctl version -> (MLflow version, tags)


@dataclass
class ModelSync:
    """The operations that bring one registered model in line (pure value), and the drift found."""

    name: str
    create_model: bool = False
    model_tags: dict[str, str] = field(default_factory=dict)
    new_versions: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)  # (n, description, tags)
    set_version_tags: list[tuple[int, str, str]] = field(default_factory=list)  # (n, key, value)
    delete_version_tags: list[tuple[int, str]] = field(default_factory=list)
    aliases: dict[str, int] = field(default_factory=dict)  # alias -> modelctl version to point at
    delete_aliases: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)

    def writes(self) -> int:
        return (int(self.create_model) + len(self.model_tags) + len(self.new_versions) + len(self.set_version_tags)
                + len(self.delete_version_tags) + len(self.aliases) + len(self.delete_aliases))


def plan_model_sync(want: ExportedModel, have: RemoteModel | None) -> ModelSync:
    """What to write so that MLflow matches ``want``; drift: aliases changed since the last sync."""
    plan = ModelSync(name=want.name, create_model=have is None)
    aliases_tag = json.dumps({e: str(n) for e, n in sorted(want.environments.items())}, sort_keys=True)
    model_tags = {PREFIX + k: v for k, v in want.metadata.items()} | {PREFIX + "aliases": aliases_tag}
    current_tags = have.tags if have else {}
    plan.model_tags = {k: v for k, v in model_tags.items() if current_tags.get(k) != v}
    remote_versions = have.versions if have else {}
    for v in want.versions:
        tags = version_tags(v.metadata)
        if v.number not in remote_versions:
            plan.new_versions.append((v.number, v.description, tags))
            continue
        _, existing = remote_versions[v.number]
        plan.set_version_tags += [(v.number, k, val) for k, val in tags.items() if existing.get(k) != val]
        plan.delete_version_tags += [(v.number, k) for k in existing if k.startswith(PREFIX) and k not in tags]
    mlflow_of = {n: mv for n, (mv, _) in remote_versions.items()}
    remote_aliases = have.aliases if have else {}
    last_synced: dict[str, str] = json.loads(current_tags.get(PREFIX + "aliases") or "{}")
    by_mlflow = {mv: n for n, mv in mlflow_of.items()}
    for alias in sorted(set(remote_aliases) | set(last_synced)):
        now, then = remote_aliases.get(alias), last_synced.get(alias)
        then_mv = mlflow_of.get(int(then)) if then else None
        if have is not None and now != then_mv:
            where = f"@{by_mlflow[now]} (MLflow version {now})" if now in by_mlflow else (
                f"MLflow version {now}" if now else "nowhere (deleted)")
            plan.drift.append(f"{want.name}: alias {alias!r} was moved by hand to {where}; modelctl last set "
                              f"it to @{then}" if then else f"{want.name}: alias {alias!r} was set by hand to {where}")
    for env, n in want.environments.items():
        if remote_aliases.get(env) is None or remote_aliases.get(env) != mlflow_of.get(n):
            plan.aliases[env] = n
    plan.delete_aliases = [a for a in remote_aliases if a in ("production", "staging", "development")
                           and a not in want.environments]
    return plan


class MlflowRest:
    """The few MLflow REST calls the sync needs, with retries on transient errors."""

    def __init__(self, tracking_uri: str, timeout: float = 30.0) -> None:
        self.root = tracking_uri.rstrip("/")
        self.base = self.root + "/api/2.0/mlflow"
        self.http = httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=16))

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             params: dict[str, Any] | None = None) -> dict[str, Any]:
        last: Exception | None = None
        for _ in range(4):
            try:
                resp = self.http.request(method, self.base + path, json=body, params=params)
            except httpx.TransportError as exc:
                last = exc
                continue
            if resp.status_code >= 500 or resp.status_code == 429:
                last = StoreUnavailable(f"MLflow {path}: HTTP {resp.status_code}: {resp.text[:200]}")
                continue
            if resp.status_code >= 400:
                raise StoreUnavailable(f"MLflow {path}: HTTP {resp.status_code}: {resp.text[:300]}")
            return resp.json() if resp.content else {}
        raise StoreUnavailable(f"MLflow at {self.base} unreachable after retries: {last}") from last

    def _pages(self, path: str, key: str, params: dict[str, Any]) -> Iterable[dict[str, Any]]:
        token: str | None = None
        while True:
            page = self.call("GET", path, params={**params, **({"page_token": token} if token else {})})
            yield from page.get(key, [])
            token = page.get("next_page_token")
            if not token:
                return

    def read_all(self, names: set[str] | None = None) -> dict[str, RemoteModel]:
        """Every registered model (or those in ``names``) with tags, aliases and modelctl versions."""
        models: dict[str, dict[str, Any]] = {}
        for m in self._pages("/registered-models/search", "registered_models", {"max_results": 1000}):
            if names is None or m["name"] in names:
                models[m["name"]] = m
        versions: dict[str, dict[int, tuple[str, dict[str, str]]]] = {n: {} for n in models}
        for mv in self._pages("/model-versions/search", "model_versions", {"max_results": 10000}):
            tags = {t["key"]: t.get("value", "") for t in mv.get("tags", [])}
            if mv["name"] in versions and PREFIX + "version" in tags:
                versions[mv["name"]][int(tags[PREFIX + "version"])] = (str(mv["version"]), tags)
        return {name: RemoteModel(name=name, tags={t["key"]: t.get("value", "") for t in m.get("tags", [])},
                                  aliases={a["alias"]: str(a["version"]) for a in m.get("aliases", [])},
                                  versions=versions[name]) for name, m in models.items()}

    def log_artifacts(self, name: str, n: int, refs: dict[str, str], artifacts: Any) -> tuple[str, str]:
        """A finished run in experiment ``modelctl-artifacts`` holding a fine-tune's files; (run id, its URI)."""
        found = self.call("GET", "/experiments/get-by-name", params={"experiment_name": "modelctl-artifacts"}) \
            if self._has_experiment() else None
        exp_id = found["experiment"]["experiment_id"] if found else self.call(
            "POST", "/experiments/create", {"name": "modelctl-artifacts"})["experiment_id"]
        run = self.call("POST", "/runs/create", {"experiment_id": exp_id, "run_name": f"{name}@{n}",
                                                 "tags": _tags({PREFIX + "model": name, PREFIX + "version": str(n)})})
        info = run["run"]["info"]
        root = info["artifact_uri"]
        if not root.startswith("mlflow-artifacts:"):
            raise StoreUnavailable(f"MLflow stores artifacts at {root}: start the server with artifact serving "
                                   "(--artifacts-destination, no --default-artifact-root) to upload fine-tunes")
        path = root.split(":", 1)[1].lstrip("/")
        for filename, uri in sorted(refs.items()):
            resp = self.http.put(f"{self.root}/api/2.0/mlflow-artifacts/artifacts/{path}/{filename}",
                                 content=artifacts.get(uri))
            if resp.status_code >= 400:
                raise StoreUnavailable(f"MLflow artifact upload {filename}: HTTP {resp.status_code}")
        self.call("POST", "/runs/update", {"run_id": info["run_id"], "status": "FINISHED"})
        return info["run_id"], root

    def _has_experiment(self) -> bool:
        resp = self.http.get(self.base + "/experiments/get-by-name", params={"experiment_name": "modelctl-artifacts"})
        return resp.status_code == 200

    def apply(self, plan: ModelSync, want: ExportedModel, source_uri: str, artifacts: Any = None) -> None:
        """Write one model's plan: model, tags, versions in order, then aliases."""
        name = plan.name
        if plan.create_model:
            self.call("POST", "/registered-models/create", {"name": name, "description": want.description,
                                                            "tags": _tags(plan.model_tags)})
        else:
            for k, v in plan.model_tags.items():
                self.call("POST", "/registered-models/set-tag", {"name": name, "key": k, "value": v})
        mlflow_of: dict[int, str] = {}
        for n, description, tags in plan.new_versions:
            body = {"name": name, "source": f"{source_uri.rstrip('/')}/{name}/{n}", "description": description,
                    "tags": _tags(tags)}
            if PREFIX + "artifacts" in tags and artifacts is not None:
                run_id, artifact_uri = self.log_artifacts(name, n, json.loads(tags[PREFIX + "artifacts"]), artifacts)
                body.update(run_id=run_id, source=artifact_uri)
            created = self.call("POST", "/model-versions/create", body)
            mlflow_of[n] = str(created["model_version"]["version"])
        for n, k, v in plan.set_version_tags:
            self.call("POST", "/model-versions/set-tag", {"name": name, "version": self._mv(name, n, mlflow_of),
                                                          "key": k, "value": v})
        for n, k in plan.delete_version_tags:
            self.call("DELETE", "/model-versions/delete-tag", {"name": name, "version": self._mv(name, n, mlflow_of),
                                                               "key": k})
        for alias, n in plan.aliases.items():
            self.call("POST", "/registered-models/alias", {"name": name, "alias": alias,
                                                           "version": self._mv(name, n, mlflow_of)})
        for alias in plan.delete_aliases:
            self.call("DELETE", "/registered-models/alias", {"name": name, "alias": alias})

    def _mv(self, name: str, n: int, known: dict[int, str]) -> str:
        if n not in known:
            remote = self.read_all({name}).get(name)
            known.update({k: mv for k, (mv, _) in (remote.versions.items() if remote else [])})
        return known[n]


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]


@dataclass
class SyncReport:
    """What a sync did (or, with ``check``, would do)."""

    models: int = 0
    created_models: int = 0
    created_versions: int = 0
    writes: int = 0
    drift: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"models": self.models, "created_models": self.created_models,
                "created_versions": self.created_versions, "writes": self.writes, "drift": self.drift}


def sync_mlflow(records: list[ModelRecord], tracking_uri: str, *, source_uri: str = "modelctl://registry",
                check: bool = False, workers: int = 4, artifacts: Any = None) -> SyncReport:
    """Bring MLflow in line with ``records``; with ``check``, only report. Models are written in parallel.

    ``artifacts`` (an ``ArtifactStore``) lets a fine-tuned version's trained model, dataset and manifest be
    uploaded as the artifacts of a run that the new MLflow model version points at.
    """
    client = MlflowRest(tracking_uri)
    try:
        remote = client.read_all({r.name for r in records})
        wanted = [export_model(r) for r in records]
        plans = [(plan_model_sync(w, remote.get(w.name)), w) for w in wanted]
        report = SyncReport(models=len(plans))
        for plan, _ in plans:
            report.created_models += int(plan.create_model)
            report.created_versions += len(plan.new_versions)
            report.writes += plan.writes()
            report.drift += plan.drift
        if not check:
            todo = [(p, w) for p, w in plans if p.writes()]
            with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                list(pool.map(lambda pw: client.apply(pw[0], pw[1], source_uri, artifacts), todo))
        return report
    finally:
        client.close()
