"""Offline, deterministic models for provider ``local`` (the embedded default; no keys, no network).

- ``lead-3-v1``: extractive summarizer, the lead-N baseline (``params.sentences``, default 3).
- ``hashing-embed-v1``: L2-normalised hashing-vectorizer embeddings (``params.dimension``, default 256).
- ``tfidf-logreg-v1``: a TF-IDF + logistic-regression text classifier trained with scikit-learn and
  stored as JSON (vocabulary, idf, coefficients): no bytes are ever unpickled, and the artifact's
  sha256 (``params.artifact_sha256``) is checked before it is parsed.

Any local model honours ``params.simulated_latency_ms`` (benchmarks of the runner use it).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from registry.errors import InvalidInput

ARTIFACT_FORMAT = "modelctl-tfidf-logreg/1"
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_cache: dict[str, Any] = {}
_cache_lock = threading.Lock()
_load_lock = threading.Lock()


def count_tokens(text: str) -> int:
    """Whitespace tokens: the local backend's token count."""
    return len(text.split())


def lead_sentences(text: str, sentences: int = 3) -> str:
    """The first ``sentences`` sentences of ``text``."""
    parts = [p.strip() for p in _SENTENCE.split(text.strip()) if p.strip()]
    return " ".join(parts[:sentences])


def hashing_embed(texts: list[str], dimension: int = 256) -> list[list[float]]:
    """Deterministic bag-of-words embeddings (word unigrams and bigrams, hashed, L2-normalised)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vectorizer = HashingVectorizer(n_features=dimension, alternate_sign=False, norm="l2", ngram_range=(1, 2))
    matrix = vectorizer.transform(texts)
    return [row.toarray().ravel().astype(float).tolist() for row in matrix]


@dataclass(frozen=True)
class TextClassifier:
    """A TF-IDF + logistic-regression classifier rebuilt from its JSON artifact."""

    vectorizer: Any
    model: Any

    def predict(self, texts: list[str]) -> list[str]:
        return [str(x) for x in self.model.predict(self.vectorizer.transform(texts))]

    def predict_proba(self, texts: list[str]) -> list[dict[str, float]]:
        proba = self.model.predict_proba(self.vectorizer.transform(texts))
        return [dict(zip(self.model.classes_, map(float, row), strict=True)) for row in proba]


def classifier_artifact(texts: list[str], labels: list[str], *, c: float = 4.0, max_iter: int = 2000,
                        trained_on: dict[str, Any] | None = None) -> bytes:
    """Train TF-IDF + logistic regression and return the JSON artifact's bytes (deterministic)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, lowercase=True)
    features = vectorizer.fit_transform(texts)
    model = LogisticRegression(C=c, max_iter=max_iter, random_state=0).fit(features, labels)
    vocab = sorted(vectorizer.vocabulary_.items(), key=lambda kv: kv[1])
    artifact = {
        "format": ARTIFACT_FORMAT,
        "trained_on": trained_on or {"rows": len(texts)},
        "vectorizer": {"ngram_range": [1, 2], "sublinear_tf": True, "lowercase": True,
                       "vocabulary": [term for term, _ in vocab],
                       "idf": [round(float(x), 10) for x in vectorizer.idf_]},
        "classes": [str(x) for x in model.classes_],
        "coef": [[round(float(x), 10) for x in row] for row in model.coef_],
        "intercept": [round(float(x), 10) for x in model.intercept_],
    }
    return json.dumps(artifact, sort_keys=True, separators=(",", ":")).encode()


def train_text_classifier(dataset_path: str | Path, out_path: str | Path, *, c: float = 4.0) -> tuple[str, str]:
    """Train on a JSONL dataset (``input``/``expected``) and write a JSON artifact; returns (path, sha256).

    Deterministic: the same data gives the same bytes.
    """
    rows = [json.loads(line) for line in Path(dataset_path).read_text().splitlines() if line.strip()]
    texts, labels = [str(r["input"]) for r in rows], [str(r["expected"]) for r in rows]
    trained_on = {"file": Path(dataset_path).name, "rows": len(rows),
                  "sha256": hashlib.sha256(Path(dataset_path).read_bytes()).hexdigest()}
    data = classifier_artifact(texts, labels, c=c, trained_on=trained_on)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return str(out), hashlib.sha256(data).hexdigest()


def read_artifact(uri: str) -> bytes:
    """The bytes at a file path, file:// or s3:// URI (through the one blob layer), or an ``artifacts://``
    reference (the content-addressed artifact store)."""
    if uri.startswith("artifacts://"):
        from tasks.training.artifacts import open_artifacts

        return open_artifacts().get(uri)
    from registry.blobs import read_bytes

    try:
        return read_bytes(uri)
    except OSError as exc:
        raise InvalidInput(f"cannot read model artifact: {exc}", file=uri, field="params.artifact_uri") from exc


def load_classifier(uri: str, sha256: str) -> TextClassifier:
    """Verify the artifact's digest, then rebuild the classifier (cached per digest)."""
    with _cache_lock:
        if sha256 in _cache:
            return _cache[sha256]  # type: ignore[no-any-return]
    with _load_lock:  # concurrent first calls load once
        with _cache_lock:
            if sha256 in _cache:
                return _cache[sha256]  # type: ignore[no-any-return]
        return _load_classifier(uri, sha256)


def _load_classifier(uri: str, sha256: str) -> TextClassifier:
    data = read_artifact(uri)
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise InvalidInput(f"artifact digest mismatch for {uri}: expected {sha256}, got {actual}; refusing to load",
                           field="params.artifact_sha256")
    try:
        artifact = json.loads(data)
    except ValueError as exc:
        raise InvalidInput(f"{uri}: not a {ARTIFACT_FORMAT} artifact (not JSON)", field="params.artifact_uri") from exc
    if not isinstance(artifact, dict) or artifact.get("format") != ARTIFACT_FORMAT:
        raise InvalidInput(f"{uri}: not a {ARTIFACT_FORMAT} artifact", field="params.artifact_uri")
    try:
        classifier = _build_classifier(artifact)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InvalidInput(f"{uri}: damaged {ARTIFACT_FORMAT} artifact ({type(exc).__name__}: {exc})",
                           field="params.artifact_uri") from exc
    with _cache_lock:
        _cache[sha256] = classifier
    return classifier


def _build_classifier(artifact: dict[str, Any]) -> TextClassifier:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    spec = artifact["vectorizer"]
    vectorizer = TfidfVectorizer(ngram_range=tuple(spec["ngram_range"]), sublinear_tf=spec["sublinear_tf"],
                                 lowercase=spec["lowercase"],
                                 vocabulary={t: i for i, t in enumerate(spec["vocabulary"])})
    vectorizer.idf_ = np.asarray(spec["idf"], dtype=float)
    model = LogisticRegression()
    model.classes_ = np.asarray(artifact["classes"])
    model.coef_ = np.asarray(artifact["coef"], dtype=float)
    model.intercept_ = np.asarray(artifact["intercept"], dtype=float)
    return TextClassifier(vectorizer, model)
