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

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from thermcli.errors import DataError, UsageError

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


def combine(p_svm: np.ndarray, p_rf: np.ndarray, w_svm: float) -> np.ndarray:
    return w_svm * p_svm + (1.0 - w_svm) * p_rf


def learn_weight(p_svm: np.ndarray, p_rf: np.ndarray, y: np.ndarray) -> float:
    """The SVM's weight in [0, 1] (grid of 0.05) maximising balanced accuracy; ties → nearest 0.5."""
    from sklearn.metrics import balanced_accuracy_score

    best, best_w = -1.0, 0.5
    for w in sorted(np.linspace(0, 1, 21), key=lambda v: abs(v - 0.5)):
        score = balanced_accuracy_score(y, combine(p_svm, p_rf, w).argmax(1))
        if score > best + 1e-12:
            best, best_w = score, float(w)
    return best_w


def _features(features_ckpt: Path, data_path: Path, device, batch_size: int = 512):
    """(embeddings (N, D), labels (N,), config, dataset) of ``data_path`` through the network."""
    from thermcli.models.checkpoint import load_checkpoint
    from thermcli.stages.classify_data import Normalization, load_split
    from thermcli.stages.predict_classify import check_frame_shape
    from thermcli.stages.train_classify import predict_embeddings

    model, config, _ = load_checkpoint(features_ckpt, expect_task="classify")
    data, _, ds = load_split(data_path, frames_k=int(config.get("frames", 1)), norm=Normalization(**config["normalization"]),
                             need_labels=False)
    check_frame_shape(config, data.frame_shape, data_path)
    model.to(device)
    emb = predict_embeddings(model, data, device, batch_size=batch_size)
    return emb, data.labels.numpy(), config, ds


def train_ensemble(train_path: Path, val_path: Path | None, out: Path, *, features: Path, weights: str, seed: int,
                   svm_c: float, trees: int, device, force: bool, options: dict[str, Any]) -> dict[str, Any]:
    """Fit SVM + RF on ``features``'s embeddings; write ``out/`` (ensemble.skops, .json, features.pt)."""
    import skops.io as sio
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from thermcli.io import atomic_path, make_provenance
    from thermcli.stages.classify_data import ClassifyData, check_trainable

    given = None
    if weights != "learn":
        try:
            given = [float(v) for v in weights.split(",")]
        except ValueError:
            given = None
        if not given or len(given) != 2 or min(given) < 0 or sum(given) <= 0:
            raise UsageError(f"{weights!r}: expected learn or W_SVM,W_RF (e.g. 0.5,0.5)", param="--ensemble-weights")
    x_train, y_train, config, _ = _features(features, train_path, device)
    names = list(config.get("class_names") or [])
    labelled = y_train >= 0
    import torch

    check_trainable(ClassifyData(None, torch.from_numpy(y_train), None, names, (0, 0), str(train_path)))
    x_train, y_train = x_train[labelled], y_train[labelled]
    svm = make_pipeline(StandardScaler(), CalibratedClassifierCV(SVC(C=svm_c, random_state=seed), ensemble=False, cv=3))
    svm.fit(x_train, y_train)
    rf = RandomForestClassifier(n_estimators=trees, random_state=seed, n_jobs=1, class_weight="balanced")
    rf.fit(x_train, y_train)
    record: dict[str, Any] = {}
    if given is not None:
        w_svm = given[0] / sum(given)
    elif val_path is not None:
        x_val, y_val, _, _ = _features(features, val_path, device)
        keep = y_val >= 0
        p_svm, p_rf = _full_proba(svm, x_val[keep], len(names)), _full_proba(rf, x_val[keep], len(names))
        w_svm = learn_weight(p_svm, p_rf, y_val[keep])
        record = {
            "val_balanced_accuracy_svm": float(balanced_accuracy_score(y_val[keep], p_svm.argmax(1))),
            "val_balanced_accuracy_rf": float(balanced_accuracy_score(y_val[keep], p_rf.argmax(1))),
            "val_balanced_accuracy": float(balanced_accuracy_score(y_val[keep], combine(p_svm, p_rf, w_svm).argmax(1))),
        }
    else:
        w_svm = 0.5
    provenance = make_provenance("thermcli train --task classify --head svm+rf", options,
                                 inputs=[train_path, features] + ([val_path] if val_path else []), seed=seed)
    digest = hashlib.sha256(Path(features).read_bytes()).hexdigest()
    ens_config = {
        "task": "classify",
        "head": "svm+rf",
        "class_names": names,
        "weights": {"svm": w_svm, "rf": 1.0 - w_svm},
        "features": FEATURES_FILE,
        "features_sha256": digest,
        "features_arch": config.get("arch"),
        "frames": config.get("frames", 1),
        "svm_c": svm_c,
        "trees": trees,
        "validation": record,
        "provenance": provenance,
    }
    with atomic_path(out, force=force, directory=True) as tmp:
        sio.dump({"svm": svm, "rf": rf}, tmp / ENSEMBLE_FILE)
        shutil.copyfile(features, tmp / FEATURES_FILE)
        (tmp / CONFIG_FILE).write_text(json.dumps(ens_config, indent=2) + "\n")
        (tmp / "config.json").write_text(json.dumps({"options": options, **ens_config}, indent=2, default=str) + "\n")
    return {"run": str(out), "weights": ens_config["weights"], **record}


def _full_proba(model, x: np.ndarray, n_classes: int) -> np.ndarray:
    """predict_proba with a column for every class (a class absent in training gets 0)."""
    proba = model.predict_proba(x)
    full = np.zeros((len(x), n_classes), np.float64)
    full[:, np.asarray(model.classes_, int)] = proba
    return full


def ensemble_probabilities(models: dict, config: dict, source: Path, data_path: Path, *, device, batch_size: int = 512):
    """(probabilities (N, C) float32, dataset) of the ensemble on ``data_path``."""
    features = _ensemble_file(source).with_name(config["features"])
    digest = hashlib.sha256(features.read_bytes()).hexdigest() if features.is_file() else None
    if digest != config.get("features_sha256"):
        raise DataError("features.pt is missing or differs from the one the ensemble was fitted on", path=str(features))
    x, _, _, ds = _features(features, data_path, device, batch_size)
    n = len(config["class_names"])
    w = float(config["weights"]["svm"])
    p = combine(_full_proba(models["svm"], x, n), _full_proba(models["rf"], x, n), w)
    return p.astype(np.float32), ds
