"""The tagging classifier: one linear model per label, calibrated, with tuned thresholds.

For every facet the documents are seen through a *view*: TF-IDF word n-grams, the lexicon
counts that concern that facet (plus the general cues), the keyword baseline's labels for that
facet, and the metadata tokens, each block with its own weight. Every label gets a
class-balanced logistic regression (one-vs-rest for the single-label facets). An inner
cross-validation on the training data gives out-of-fold scores, from which a sigmoid (Platt)
calibration and, for multi-label facets, a per-label threshold are fitted; the threshold is
shrunk towards 0.5 when a label has few positive examples.

Persistence: ``model.joblib`` (the fitted extractor and the coefficient arrays, float32) and
``model.json`` (readable metadata: version, parameters, library versions, label set,
training-data hash, cross-validated metrics).
"""

from __future__ import annotations

import hashlib
import json
import platform
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from kb.tagging.baseline import FEATURE_NAMES
from kb.tagging.features import Blocks, Doc, FeatureExtractor
from kb.taxonomy import FACET_BY_NAME, FACETS, TAXONOMY_VERSION

MODEL_FILE = "model.joblib"
META_FILE = "model.json"
MODEL_KIND = "tfidf-linear"
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"

Targets = Mapping[str, Any]  # facet -> label / labels; a facet that is absent is unknown


@dataclass(slots=True)
class View:
    """How one facet's models see a document: block weights and regularisation."""

    word: float = 1.0
    lexicon: float = 1.0
    baseline: float = 1.0
    meta: float = 1.0
    C: float = 10.0
    balanced: bool = True
    shrink: float | None = None  # threshold shrinkage; None: the model's threshold_shrink


# Chosen by 5-fold cross-validation on the gold set (see docs/tagging.md): a heavier lexicon
# for the facets whose terms are specific (agent, condition, route) and little free text for
# agent (which form is studied is said by the drug names), the baseline's verdict for
# relevance, less of both for outcome domains, whose terms are broad.
DEFAULT_VIEWS: dict[str, View] = {
    "relevance": View(baseline=2.0),
    "agent": View(word=0.3, lexicon=2.0, C=10.0),
    "condition": View(lexicon=2.0, C=3.0),
    "route": View(lexicon=2.0, shrink=3.0),
    "outcome": View(lexicon=0.5, baseline=0.5, C=30.0),
    "design": View(C=3.0),
}


def _view_columns(facet: str) -> np.ndarray:
    """Lexicon columns a facet looks at: its own labels, the cues, the relevance cues (and
    the agent terms for relevance)."""
    keep = [j for j, name in enumerate(FEATURE_NAMES)
            if name.startswith("relevance:") or f":{facet}:" in name or ":cue:" in name
            or (facet == "relevance" and ":agent:" in name)]
    return np.array(keep, dtype=np.int64)


_VIEW_COLUMNS = {f.name: _view_columns(f.name) for f in FACETS}


def facet_matrix(blocks: Blocks, facet: str, view: View) -> sp.csr_matrix:
    """The design matrix of one facet: weighted blocks side by side."""
    parts = [blocks.word * view.word,
             sp.csr_matrix(blocks.lexicon[:, _VIEW_COLUMNS[facet]] * view.lexicon),
             sp.csr_matrix(blocks.baseline[facet] * view.baseline)]
    if view.meta:
        parts.append(blocks.meta * view.meta)
    return sp.hstack(parts, format="csr", dtype=np.float32)


@dataclass(slots=True)
class LabelModel:
    """Coefficients of every label of one facet (columns), calibration and thresholds."""

    labels: list[str]
    coef: np.ndarray  # features x labels, float32
    intercept: np.ndarray  # labels
    platt_a: np.ndarray  # labels; p = sigmoid(a * decision + b)
    platt_b: np.ndarray
    threshold: np.ndarray  # labels (multi-label facets)
    positives: np.ndarray  # training positives per label

    def proba(self, X: sp.csr_matrix) -> np.ndarray:
        decision = np.asarray(X @ self.coef) + self.intercept
        z = self.platt_a * decision + self.platt_b
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def _fit_binary(X: sp.csr_matrix, y: np.ndarray, w: np.ndarray, view: View,
                seed: int) -> tuple[np.ndarray, float]:
    clf = LogisticRegression(C=view.C, solver="liblinear", dual=True,
                             class_weight="balanced" if view.balanced else None,
                             random_state=seed, max_iter=1000)
    with warnings.catch_warnings():
        # The dual solver may stop at max_iter on a separable label; the fit is still usable
        # and is calibrated on out-of-fold scores anyway.
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y, sample_weight=w)
    return clf.coef_.ravel().astype(np.float32), float(clf.intercept_[0])


def _platt(decision: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Sigmoid calibration of decision values (Platt's targets, to avoid 0/1 extremes)."""
    if y.min() == y.max():
        return 1.0, 0.0
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    target = np.where(y, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    # Fit on soft targets: duplicate rows as positive / negative with those weights.
    X = np.concatenate([decision, decision])[:, None]
    labels = np.concatenate([np.ones_like(decision), np.zeros_like(decision)])
    weights = np.concatenate([target, 1 - target])
    lr = LogisticRegression(C=1e4, solver="lbfgs").fit(X, labels, sample_weight=weights)
    a = float(lr.coef_[0, 0])
    if a <= 0:  # a calibration that inverts the score is noise: keep the identity
        return 1.0, 0.0
    return a, float(lr.intercept_[0])


def _best_threshold(p: np.ndarray, y: np.ndarray, shrink: float) -> float:
    n_pos = int(y.sum())
    if n_pos == 0:
        return 0.5
    best_f, best_t = -1.0, 0.5
    for t in np.arange(0.10, 0.91, 0.05):
        pred = p >= t
        tp = int((pred & y).sum())
        f = 2 * tp / (pred.sum() + n_pos) if tp else 0.0
        if f > best_f + 1e-9:
            best_f, best_t = f, float(t)
    return (n_pos * best_t + shrink * 0.5) / (n_pos + shrink)


def _shrink(view: View, default: float) -> float:
    return default if view.shrink is None else view.shrink


def _group_folds(y: np.ndarray, groups: np.ndarray, k: int, seed: int
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds of whole groups (a group is positive when any of its rows is)."""
    uniq, inverse = np.unique(groups, return_inverse=True)
    group_y = np.zeros(len(uniq), dtype=bool)
    np.logical_or.at(group_y, inverse, y)
    splitter = StratifiedKFold(k, shuffle=True, random_state=seed)
    folds = []
    for _tr_g, te_g in splitter.split(np.zeros(len(uniq)), group_y):
        test = np.isin(inverse, te_g)
        folds.append((np.flatnonzero(~test), np.flatnonzero(test)))
    return folds


def _fit_label(X: sp.csr_matrix, y: np.ndarray, w: np.ndarray, calib: np.ndarray,
               groups: np.ndarray, view: View, inner_folds: int, shrink: float, seed: int
               ) -> tuple[np.ndarray, float, float, float, float]:
    """Fit one label: out-of-fold decisions -> calibration and threshold; then the full fit.

    Inner folds keep the rows of one group (copies of one document) together."""
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        coef = np.zeros(X.shape[1], dtype=np.float32)
        return coef, (10.0 if n_pos else -10.0), 1.0, 0.0, 0.5
    oof = np.zeros(len(y))
    k = min(inner_folds, len(set(groups[y])), len(set(groups[~y])))
    if k >= 2:
        for tr, te in _group_folds(y, groups, k, seed):
            c, b = _fit_binary(X[tr], y[tr], w[tr], view, seed)
            oof[te] = X[te] @ c + b
    coef, intercept = _fit_binary(X, y, w, view, seed)
    if k < 2:
        return coef, intercept, 1.0, 0.0, 0.5
    rows = calib if y[calib].sum() >= 3 and (~y[calib]).sum() >= 3 else np.ones_like(calib)
    a, b = _platt(oof[rows], y[rows])
    p = 1.0 / (1.0 + np.exp(-np.clip(a * oof[rows] + b, -50, 50)))
    threshold = _best_threshold(p, y[rows], shrink)
    return coef, intercept, a, b, threshold


@dataclass
class TaggerModel:
    """Fit on documents and (possibly partial) targets; predict labels and probabilities."""

    views: dict[str, View] = field(default_factory=lambda: {k: View(**asdict(v))
                                                            for k, v in DEFAULT_VIEWS.items()})
    extractor: FeatureExtractor = field(default_factory=FeatureExtractor)
    inner_folds: int = 3
    threshold_shrink: float = 10.0
    random_state: int = 0
    n_jobs: int = 1
    facets_: dict[str, LabelModel] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    # ---- training -------------------------------------------------------------------------
    def fit(self, docs: Sequence[Doc], targets: Sequence[Targets],
            weights: Sequence[float] | None = None,
            calibrate_on: Sequence[bool] | None = None,
            groups: Sequence[str] | None = None) -> TaggerModel:
        """Fit every label. ``targets[i]`` holds only the facets known for document ``i``;
        ``weights`` are sample weights (gold 1, weak labels less); ``calibrate_on`` marks the
        documents whose out-of-fold scores tune calibration and thresholds (the gold ones);
        ``groups`` names the document each row comes from (default: its id)."""
        if len(docs) != len(targets):
            raise ValueError("docs and targets differ in length")
        w_all = np.ones(len(docs)) if weights is None else np.asarray(weights, dtype=float)
        calib_all = (np.ones(len(docs), dtype=bool) if calibrate_on is None
                     else np.asarray(calibrate_on, dtype=bool))
        names = [d.id or str(i) for i, d in enumerate(docs)] if groups is None else groups
        group_ids = {g: n for n, g in enumerate(dict.fromkeys(names))}
        g_all = np.array([group_ids[g] for g in names], dtype=np.int64)
        blocks = self.extractor.fit_transform(docs)
        jobs = []
        for f in FACETS:
            rows = np.array([i for i, t in enumerate(targets) if t.get(f.name) is not None],
                            dtype=np.int64)
            X = facet_matrix(blocks, f.name, self.views[f.name])[rows]
            Y = np.zeros((len(rows), len(f.labels)), dtype=bool)
            for r, i in enumerate(rows):
                value = targets[i][f.name]
                chosen = {value} if isinstance(value, str) else set(value)
                for j, lab in enumerate(f.label_names):
                    Y[r, j] = lab in chosen
            for j in range(len(f.labels)):
                jobs.append((f.name, j, X, Y[:, j], w_all[rows], calib_all[rows], g_all[rows]))
        results = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(_fit_label)(X, y, w, c, g, self.views[name], self.inner_folds,
                                _shrink(self.views[name], self.threshold_shrink),
                                self.random_state)
            for name, _j, X, y, w, c, g in jobs)
        by_facet: dict[str, list[Any]] = {}
        for (name, j, _X, y, _w, _c, _g), res in zip(jobs, results, strict=True):
            by_facet.setdefault(name, []).append((j, int(y.sum()), res))
        self.facets_ = {}
        for name, items in by_facet.items():
            items.sort(key=lambda t: t[0])
            self.facets_[name] = LabelModel(
                labels=list(FACET_BY_NAME[name].label_names),
                coef=np.stack([r[0] for _, _, r in items], axis=1).astype(np.float32),
                intercept=np.array([r[1] for _, _, r in items], dtype=np.float32),
                platt_a=np.array([r[2] for _, _, r in items], dtype=np.float32),
                platt_b=np.array([r[3] for _, _, r in items], dtype=np.float32),
                threshold=np.array([r[4] for _, _, r in items], dtype=np.float32),
                positives=np.array([n for _, n, _ in items], dtype=np.int64))
        return self

    # ---- prediction -----------------------------------------------------------------------
    def predict_proba(self, docs: Sequence[Doc]) -> dict[str, np.ndarray]:
        """Calibrated probabilities, ``{facet: array (documents x labels)}``; the rows of a
        single-label facet sum to one."""
        if not self.facets_:
            raise RuntimeError("the model is not fitted")
        blocks = self.extractor.transform(docs)
        out = {}
        for f in FACETS:
            p = self.facets_[f.name].proba(facet_matrix(blocks, f.name, self.views[f.name]))
            if not f.multi:
                p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
            out[f.name] = p
        return out

    def predict(self, docs: Sequence[Doc], *, rules: bool = True
                ) -> tuple[list[dict[str, Any]], list[dict[str, dict[str, float]]]]:
        """Labels and probabilities for every document; ``rules`` applies the taxonomy's
        structural rules (:func:`apply_rules`), which :mod:`kb.tagging.combine` applies
        itself when tags are stored."""
        proba = self.predict_proba(docs)
        labels: list[dict[str, Any]] = []
        scores: list[dict[str, dict[str, float]]] = []
        for i in range(len(docs)):
            lab: dict[str, Any] = {}
            sc: dict[str, dict[str, float]] = {}
            for f in FACETS:
                lm = self.facets_[f.name]
                row = proba[f.name][i]
                sc[f.name] = {name: round(float(p), 4) for name, p in zip(lm.labels, row,
                                                                          strict=True)}
                if f.multi:
                    lab[f.name] = [name for name, p, t in zip(lm.labels, row, lm.threshold,
                                                              strict=True) if p >= t]
                else:
                    lab[f.name] = lm.labels[int(np.argmax(row))]
            labels.append(apply_rules(lab, sc) if rules else lab)
            scores.append(sc)
        return labels, scores

    # ---- persistence ----------------------------------------------------------------------
    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unversioned"))

    def save(self, directory: str | Path) -> Path:
        """Write ``model.joblib`` and ``model.json`` into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {"views": {k: asdict(v) for k, v in self.views.items()},
                 "extractor": self.extractor, "inner_folds": self.inner_folds,
                 "threshold_shrink": self.threshold_shrink,
                 "random_state": self.random_state,
                 "facets": {k: asdict(v) for k, v in self.facets_.items()},
                 "metadata": self.metadata}
        joblib.dump(state, directory / MODEL_FILE, compress=("xz", 3))
        (directory / META_FILE).write_text(json.dumps(self.metadata, indent=2,
                                                      sort_keys=False) + "\n",
                                           encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path | None = None) -> TaggerModel:
        """Load a saved model (default: the one shipped with the package)."""
        directory = Path(directory) if directory else DEFAULT_MODEL_DIR
        path = directory / MODEL_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no tagging model in {directory} (expected {MODEL_FILE}); "
                                    "run `kb train`")
        state = joblib.load(path)  # our own artefact, written by save()
        model = cls(views={k: View(**v) for k, v in state["views"].items()},
                    extractor=state["extractor"], inner_folds=state["inner_folds"],
                    threshold_shrink=state["threshold_shrink"],
                    random_state=state["random_state"])
        model.facets_ = {k: LabelModel(**v) for k, v in state["facets"].items()}
        model.metadata = dict(state["metadata"])
        return model

    def params(self) -> dict[str, Any]:
        return {"kind": MODEL_KIND, "views": {k: asdict(v) for k, v in self.views.items()},
                "extractor": self.extractor.get_params(), "inner_folds": self.inner_folds,
                "threshold_shrink": self.threshold_shrink, "random_state": self.random_state,
                "classifier": "LogisticRegression(solver=liblinear) per label, Platt-calibrated"
                              " on inner-CV scores"}


def apply_rules(labels: dict[str, Any], scores: Mapping[str, Mapping[str, float]]
                ) -> dict[str, Any]:
    """The taxonomy's structural rules: agent and route are empty when relevance is
    ``incidental``; a relevant record has at least one agent (the likeliest)."""
    if labels.get("relevance") == "incidental":
        labels["agent"] = []
        labels["route"] = []
    elif not labels.get("agent"):
        agent = scores.get("agent") or {"ketamine": 1.0}
        labels["agent"] = [max(agent, key=lambda k: agent[k])]
    return labels


def library_versions() -> dict[str, str]:
    import scipy
    import sklearn

    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__, "joblib": joblib.__version__}


def make_version(data_hash: str, params: Mapping[str, Any], when: datetime | None = None) -> str:
    """``tfidf-linear-<YYYYMMDD>-<hash8>``; the hash covers training data and parameters."""
    when = when or datetime.now(UTC)
    digest = hashlib.sha256((data_hash + json.dumps(params, sort_keys=True, default=str))
                            .encode()).hexdigest()[:8]
    return f"{MODEL_KIND}-{when:%Y%m%d}-{digest}"


def base_metadata(model: TaggerModel, data_hash: str, **extra: Any) -> dict[str, Any]:
    """The JSON metadata of a freshly trained model."""
    params = model.params()
    meta: dict[str, Any] = {
        "version": make_version(data_hash, params),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "taxonomy_version": TAXONOMY_VERSION,
        "labels": {f.name: {"multi": f.multi, "labels": list(f.label_names)} for f in FACETS},
        "params": params,
        "libraries": library_versions(),
        "training_data_hash": data_hash,
    }
    meta.update(extra)
    return meta
