"""Scoring an adaptation: accuracy or per-label F1 (scikit-learn), the networks' outputs on a
domain, the PCA picture of the features before and after, and the mean ± std over seeds."""

from __future__ import annotations

from typing import Any

import numpy as np

from thermcli.stages.adapt.data import Domain


def per_label_f1(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """F1 of each label column of (N, L) 0/1 arrays; 0 where a label has no positives and no
    predictions (scikit-learn's ``f1_score(average=None, zero_division=0)``)."""
    from sklearn.metrics import f1_score

    y_true = np.asarray(y_true).astype(bool).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred).astype(bool).reshape(len(y_pred), -1)
    width = y_true.shape[1]
    if width == 1:  # one column reads as a binary target to scikit-learn: pad it to two labels
        y_true = np.hstack([y_true, np.zeros_like(y_true)])
        y_pred = np.hstack([y_pred, np.zeros_like(y_pred)])
    f1 = f1_score(y_true, y_pred, average=None, zero_division=0)
    return np.asarray(f1, dtype=np.float64)[:width]


def score(logits: np.ndarray, y: np.ndarray, kind: str) -> dict[str, Any]:
    """Accuracy (multi-class) or per-label F1 + mean F1 (multi-label, sigmoid > 0.5)."""
    if kind == "multiclass":
        return {"acc": float((logits.argmax(1) == y).mean())}
    f1 = per_label_f1(y > 0.5, logits > 0.0)
    return {"f1": float(f1.mean()), "per_label_f1": [float(v) for v in f1]}


def headline(kind: str) -> str:
    """The metric reported per epoch and over seeds: ``acc`` or ``f1``."""
    return "acc" if kind == "multiclass" else "f1"


def forward(encoder, head, x: np.ndarray, device, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Features and logits of ``x`` (eval mode, restored after)."""
    import torch

    was = (encoder.training, head.training)
    encoder.eval()
    head.eval()
    feats, logits = [], []
    with torch.no_grad():
        for lo in range(0, len(x), batch):
            f = encoder(torch.from_numpy(x[lo : lo + batch]).to(device))
            feats.append(f.cpu().numpy())
            logits.append(head(f).cpu().numpy())
    encoder.train(was[0])
    head.train(was[1])
    return np.concatenate(feats), np.concatenate(logits)


def evaluate(encoder, head, dom: Domain | None, kind: str, device) -> dict[str, Any] | None:
    """:func:`score` of a labelled domain; None for none or an unlabelled one."""
    if dom is None or dom.y is None:
        return None
    _, logits = forward(encoder, head, dom.x, device)
    return score(logits, dom.y, kind)


def epoch_scores(encoders: tuple[tuple[Any, Any], tuple[Any, Any]], src: Domain, val: Domain | None, kind: str, device) -> dict[str, float]:
    """An epoch's ``source_KEY`` / ``target_KEY`` columns: ``encoders`` = ((encoder, head) for
    the source, (encoder, head) for the target validation set)."""
    key = headline(kind)
    row: dict[str, float] = {}
    for name, (encoder, head), dom in (("source", encoders[0], src), ("target", encoders[1], val)):
        result = evaluate(encoder, head, dom, kind, device)
        if result is not None:
            row[f"{name}_{key}"] = result[key]
    return row


def scored(epoch: int, epochs: int, every: int) -> bool:
    """Whether epoch ``epoch`` (0-based) of ``epochs`` is scored: every ``every``-th, and the last."""
    return epoch + 1 == epochs or (epoch + 1) % max(every, 1) == 0


def embedding_png(before: tuple[np.ndarray, np.ndarray], after: tuple[np.ndarray, np.ndarray], title: str) -> bytes:
    """Two PCA panels of (source, target) features: before and after adaptation."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.8), dpi=90)
    for ax, (fs, ft), name in ((axes[0], before, "before (source encoder)"), (axes[1], after, "after adaptation")):
        pts = PCA(n_components=2, random_state=0).fit_transform(np.concatenate([fs, ft]))
        ax.scatter(pts[: len(fs), 0], pts[: len(fs), 1], s=6, alpha=0.5, label="source", color="tab:blue")
        ax.scatter(pts[len(fs) :, 0], pts[len(fs) :, 1], s=6, alpha=0.5, label="target", color="tab:orange")
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(fontsize=8, markerscale=2)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def summarize_seeds(results: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """Mean ± sample std (ddof 1; 0 for one seed) of the headline target numbers over seeds."""
    key = headline(kind)
    summary: dict[str, Any] = {
        "seeds": [r["seed"] for r in results],
        "seconds_per_seed": [r["seconds"] for r in results],
        "runs": results,
    }
    for name in (f"target_{key}_source_only", f"target_{key}_adapted"):
        values = [r[name] for r in results if name in r]
        if values:
            arr = np.array(values, dtype=np.float64)
            summary[name] = {
                "mean": float(arr.mean()),
                "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
                "values": [float(v) for v in arr],
            }
    if kind == "multilabel" and all(r["adapted"]["target"] for r in results if r["adapted"]["target"] is not None):
        per = [r["adapted"]["target"]["per_label_f1"] for r in results if r["adapted"]["target"] is not None]
        if per:
            summary["per_label_f1_adapted_mean"] = [float(v) for v in np.mean(per, axis=0)]
    return summary
