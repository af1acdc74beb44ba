"""The hybrid head (``train --task classify --head svm+rf --features FROM.pt``): an SVM and a random
forest fitted on a trained network's 128-d embeddings, their probabilities combined by a weight
learned on the validation split (or given).

Persistence without code execution: the scikit-learn models are written with skops
(``ensemble.skops``), whose loader rebuilds objects only from an allow-list of types; thermcli
passes a fixed allow-list (scikit-learn's tree, calibration and pipeline internals) and refuses a
file that asks for anything else. The feature network is copied beside it (``features.pt``, loaded
with ``weights_only=True``) and the combination weights and classes live in ``ensemble.json``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError
from thermcli.io.provenance import sha256_path

ENSEMBLE_FILE = "ensemble.skops"
CONFIG_FILE = "ensemble.json"
FEATURES_FILE = "features.pt"
# Types skops does not trust by default but thermcli's own ensembles contain; nothing else loads.
ALLOWED_TYPES = frozenset({
    "sklearn.tree._tree.Tree",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
})


def is_ensemble(path: Path) -> bool:
    path = Path(path)
    return path.suffix.lower() == ".skops" or (path.is_dir() and (path / ENSEMBLE_FILE).is_file())


def _ensemble_file(path: Path) -> Path:
    path = Path(path)
    return path / ENSEMBLE_FILE if path.is_dir() else path


def load_ensemble(path: Path):
    """(models dict, config): refuses files needing types outside ALLOWED_TYPES."""
    import skops.io as sio

    file = _ensemble_file(path)
    if not file.is_file():
        raise DataError("no such ensemble file", path=str(file))
    try:
        untrusted = set(sio.get_untrusted_types(file=file))
    except Exception as exc:
        raise DataError(f"not a readable skops file ({' '.join(str(exc).split())[:100]})", path=str(file)) from None
    extra = sorted(untrusted - ALLOWED_TYPES)
    if extra:
        raise DataError(f"refusing to load: the file asks for types thermcli does not trust ({', '.join(extra)})", path=str(file))
    models = sio.load(file, trusted=sorted(untrusted))
    config_path = file.with_name(CONFIG_FILE)
    if not config_path.is_file():
        raise DataError(f"{CONFIG_FILE} is missing beside the ensemble", path=str(file))
    config = json.loads(config_path.read_text())
    return models, config


MEMBERS = ("svm", "rf", "net")
SVM_C_GRID = (0.1, 1.0, 10.0)
WEIGHT_STEP = 0.1


def combine(probs: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """Soft vote: Σ w_m · p_m over the members with a weight (missing members weigh 0)."""
    total = None
    for name, w in weights.items():
        if w == 0 or name not in probs:
            continue
        term = float(w) * probs[name]
        total = term if total is None else total + term
    if total is None:
        raise ValueError("every ensemble weight is 0")
    return total / sum(float(w) for name, w in weights.items() if name in probs)


def _score(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(balanced accuracy, −log loss): higher is better; the log loss breaks ties."""
    from sklearn.metrics import balanced_accuracy_score

    eps = 1e-7
    picked = np.clip(p[np.arange(len(y)), y], eps, 1.0)
    return float(balanced_accuracy_score(y, p.argmax(1))), float(np.log(picked).mean())


def weight_grid(members: tuple[str, ...], step: float = WEIGHT_STEP) -> list[dict[str, float]]:
    """Every weighting of ``members`` on the simplex in steps of ``step`` (each sums to 1)."""
    n = int(round(1.0 / step))
    grid: list[dict[str, float]] = []

    def rec(prefix: list[int], left: int) -> None:
        if len(prefix) == len(members) - 1:
            counts = prefix + [left]
            grid.append({m: c / n for m, c in zip(members, counts)})
            return
        for c in range(left + 1):
            rec(prefix + [c], left - c)

    rec([], n)
    return grid


def learn_weights(probs: dict[str, np.ndarray], y: np.ndarray, step: float = WEIGHT_STEP) -> dict[str, float]:
    """The members' weights (simplex grid) maximising validation balanced accuracy, ties broken by
    the lower log loss of the combined probabilities, then by the more even weighting."""
    members = tuple(probs)
    best_key, best = None, None
    for w in weight_grid(members, step):
        ba, ll = _score(y, combine(probs, w))
        evenness = -float(np.var(list(w.values())))
        key = (round(ba, 12), round(ll, 9), evenness)
        if best_key is None or key > best_key:
            best_key, best = key, w
    return {m: float(best.get(m, 0.0)) for m in MEMBERS}


def _features(features_ckpt: Path, data_path: Path, device, batch_size: int = 512):
    """(embeddings (N, D), network probabilities (N, C), labels (N,), config, dataset) of
    ``data_path`` through the network."""
    import torch

    from thermcli.models.checkpoint import load_checkpoint
    from thermcli.stages.classify_data import Normalization, load_split
    from thermcli.stages.classify_forward import check_frame_shape, predict_logits_and_embeddings

    model, config, _ = load_checkpoint(features_ckpt, expect_task="classify")
    data, _, ds = load_split(data_path, frames_k=int(config.get("frames", 1)), norm=Normalization(**config["normalization"]),
                             need_labels=False, centered=config.get("window") == "centered")
    check_frame_shape(config, data.frame_shape, data_path)
    model.to(device)
    logits, emb = predict_logits_and_embeddings(model, data, device, batch_size=batch_size)
    probs = torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy()
    return emb, probs, data.labels.numpy(), config, ds


def calibration_folds(ds, rows: np.ndarray, y: np.ndarray, seed: int) -> tuple[list, str]:
    """Cross-validation folds for the SVM's probability calibration, by group so that copies of a
    frame (threshold levels, augmentations) and frames of one subject never sit on both sides:
    by subject when ≥ 2 subjects, else by sequence, else stratified by class. (folds, grouping)."""
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    for name in ("subject", "sequence"):
        column = getattr(ds, name, None)
        if column is None:
            continue
        groups = np.asarray(column).astype(str)[rows]
        distinct = np.unique(groups)
        if len(distinct) < 2:
            continue
        k = min(3, len(distinct))
        folds = list(GroupKFold(n_splits=k).split(np.zeros(len(y)), y, groups))
        # every training side needs both classes for the SVM to fit
        if all(len(np.unique(y[train])) >= 2 for train, _ in folds):
            return folds, name
    k = int(min(3, np.bincount(y).min())) if len(y) else 2
    folds = list(StratifiedKFold(n_splits=max(k, 2), shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    return folds, "stratified"


def _fit_svm(x: np.ndarray, y: np.ndarray, c: float, folds: list, seed: int):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    svm = make_pipeline(StandardScaler(),
                        CalibratedClassifierCV(SVC(C=c, gamma="scale", class_weight="balanced", random_state=seed),
                                               ensemble=False, cv=folds))
    svm.fit(x, y)
    # the fitted calibrator no longer needs the fold indices: keep the file small and plain
    svm.steps[-1][1].cv = len(folds)
    return svm


def parse_svm_c(text: str | float | None) -> float | None:
    """``auto`` (chosen on --val) → None, else a positive float."""
    if text is None or (isinstance(text, str) and text.strip().lower() == "auto"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{text!r}: expected auto or a positive number", param="--svm-c") from None
    if not value > 0:
        raise UsageError(f"{text!r}: expected auto or a positive number", param="--svm-c")
    return value


def parse_ensemble_weights(text: str) -> dict[str, float] | None:
    """``learn`` → None; ``W_SVM,W_RF`` or ``W_SVM,W_RF,W_NET`` → normalised weights."""
    if text.strip().lower() == "learn":
        return None
    try:
        given = [float(v) for v in text.split(",")]
    except ValueError:
        given = []
    if len(given) not in (2, 3) or min(given) < 0 or sum(given) <= 0:
        raise UsageError(f"{text!r}: expected learn, W_SVM,W_RF or W_SVM,W_RF,W_NET (e.g. 0.4,0.3,0.3)",
                         param="--ensemble-weights")
    given += [0.0] * (3 - len(given))
    return {m: v / sum(given) for m, v in zip(MEMBERS, given)}


def train_ensemble(train_path: Path, val_path: Path | None, out: Path, *, features: Path, weights: str, seed: int,
                   svm_c: float | str | None, trees: int, device, force: bool, options: dict[str, Any]) -> dict[str, Any]:
    """Fit SVM + RF on ``features``'s embeddings; write ``out/`` (ensemble.skops, .json, features.pt).

    The soft vote has three members: the SVM (standardised embeddings, RBF kernel, probabilities
    calibrated on subject-grouped folds), the random forest, and the feature network's own softmax.
    With ``--val``, the SVM's C (when ``auto``) and the members' weights are chosen on the
    validation split; the models themselves are fitted on the training split only.
    """
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import balanced_accuracy_score

    from thermcli.io import atomic_path, make_provenance
    from thermcli.stages.classify_data import ClassifyData, check_trainable

    given = parse_ensemble_weights(weights)
    fixed_c = parse_svm_c(svm_c)
    x_train, _, y_train, config, ds_train = _features(features, train_path, device)
    names = list(config.get("class_names") or [])
    n = len(names)
    import torch

    check_trainable(ClassifyData(None, torch.from_numpy(y_train), None, names, (0, 0), str(train_path)))
    rows = np.flatnonzero(y_train >= 0)
    x_train, y_train = x_train[rows], y_train[rows]
    folds, grouping = calibration_folds(ds_train, rows, y_train, seed)
    val = None
    if val_path is not None:
        x_val, p_net, y_val, _, _ = _features(features, val_path, device)
        keep = y_val >= 0
        if keep.any():
            val = (x_val[keep], p_net[keep], y_val[keep])
    record: dict[str, Any] = {"calibration_folds": f"{len(folds)} by {grouping}"}
    if fixed_c is not None or val is None:
        c = fixed_c if fixed_c is not None else 1.0
        svm = _fit_svm(x_train, y_train, c, folds, seed)
    else:
        svm, c, tried, best_key = None, None, {}, None
        for candidate in SVM_C_GRID:
            model = _fit_svm(x_train, y_train, candidate, folds, seed)
            key = _score(val[2], _full_proba(model, val[0], n))
            tried[str(candidate)] = key[0]
            if svm is None or key > best_key:
                svm, c, best_key = model, candidate, key
        record["val_balanced_accuracy_svm_by_c"] = tried
    rf = RandomForestClassifier(n_estimators=trees, random_state=seed, n_jobs=1, class_weight="balanced")
    rf.fit(x_train, y_train)
    if val is not None:
        probs = {"svm": _full_proba(svm, val[0], n), "rf": _full_proba(rf, val[0], n), "net": val[1]}
        w = given if given is not None else learn_weights(probs, val[2])
        for name, p in probs.items():
            record[f"val_balanced_accuracy_{name}"] = float(balanced_accuracy_score(val[2], p.argmax(1)))
        record["val_balanced_accuracy"] = float(balanced_accuracy_score(val[2], combine(probs, w).argmax(1)))
        record["val_frames"] = int(len(val[2]))
    else:
        w = given if given is not None else {m: 1.0 / len(MEMBERS) for m in MEMBERS}
    provenance = make_provenance("thermcli train --task classify --head svm+rf", options,
                                 inputs=[train_path, features] + ([val_path] if val_path else []), seed=seed)
    digest = sha256_path(features)
    ens_config = {
        "task": "classify",
        "head": "svm+rf",
        "class_names": names,
        "weights": {m: float(w.get(m, 0.0)) for m in MEMBERS},
        "features": FEATURES_FILE,
        "features_sha256": digest,
        "features_arch": config.get("arch"),
        "frames": config.get("frames", 1),
        "svm_c": c,
        "trees": trees,
        "validation": record,
        "provenance": provenance,
    }
    with atomic_path(out, force=force, directory=True) as tmp:
        sio.dump({"svm": svm, "rf": rf}, tmp / ENSEMBLE_FILE)
        shutil.copyfile(features, tmp / FEATURES_FILE)
        (tmp / CONFIG_FILE).write_text(json.dumps(ens_config, indent=2) + "\n")
        (tmp / "config.json").write_text(json.dumps({"options": options, **ens_config}, indent=2, default=str) + "\n")
    return {"run": str(out), "weights": ens_config["weights"], "svm_c": c, **record}


def _full_proba(model, x: np.ndarray, n_classes: int) -> np.ndarray:
    """predict_proba with a column for every class (a class absent in training gets 0)."""
    proba = model.predict_proba(x)
    full = np.zeros((len(x), n_classes), np.float64)
    full[:, np.asarray(model.classes_, int)] = proba
    return full


def ensemble_probabilities(models: dict, config: dict, source: Path, data_path: Path, *, device, batch_size: int = 512):
    """(probabilities (N, C) float32, dataset) of the ensemble on ``data_path``."""
    features = _ensemble_file(source).with_name(config["features"])
    digest = sha256_path(features) if features.is_file() else None
    if digest != config.get("features_sha256"):
        raise DataError("features.pt is missing or differs from the one the ensemble was fitted on", path=str(features))
    x, p_net, _, _, ds = _features(features, data_path, device, batch_size)
    n = len(config["class_names"])
    weights = {m: float(config["weights"].get(m, 0.0)) for m in MEMBERS}
    probs = {"svm": _full_proba(models["svm"], x, n), "rf": _full_proba(models["rf"], x, n), "net": p_net}
    return combine(probs, weights).astype(np.float32), ds
