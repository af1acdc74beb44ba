"""Predictions of a classifier — a ``.pt`` checkpoint or an ``svm+rf`` ensemble (``.skops``) — on
a dataset: predicted labels and class probabilities, as a dataset (frames and ids kept, so the
predictions stay inspectable and chain into ``eval`` without the model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from thermcli.stages.classify_forward import check_channels, check_frame_shape


def classifier_probabilities(source: Path, data_path: Path, *, device, batch_size: int = 512):
    """(probabilities (N, C) float32, config, dataset) of ``source`` on ``data_path``."""
    from thermcli.stages.ensemble import is_ensemble, load_ensemble, ensemble_probabilities

    if is_ensemble(source):
        ensemble, config = load_ensemble(source)
        probs, ds = ensemble_probabilities(ensemble, config, source, data_path, device=device, batch_size=batch_size)
        return probs, config, ds
    import torch

    from thermcli.models.checkpoint import load_checkpoint
    from thermcli.stages.classify_data import load_split
    from thermcli.stages.classify_data import Normalization
    from thermcli.stages.classify_forward import predict_logits

    model, config, _ = load_checkpoint(source, expect_task="classify")
    norm = Normalization(**config["normalization"])
    data, _, ds = load_split(data_path, frames_k=int(config.get("frames", 1)), norm=norm, need_labels=False,
                               centered=config.get("window") == "centered", grey=bool(config.get("grey", False)))
    check_frame_shape(config, data.frame_shape, data_path)
    check_channels(config, data.channels, data_path)
    model.to(device)
    logits = predict_logits(model, data, device, batch_size=batch_size)
    if config.get("label_kind") == "multilabel":  # one sigmoid per label (e.g. `adapt` on multi-label data)
        probs = torch.sigmoid(torch.from_numpy(logits)).numpy().astype(np.float32)
    else:
        probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy().astype(np.float32)
    return probs, config, ds


def predict(source: Path, data_path: Path, *, device, batch_size: int, provenance: dict) -> "Dataset":  # noqa: F821
    from thermcli.io import Meta

    probs, config, ds = classifier_probabilities(source, data_path, device=device, batch_size=batch_size)
    names = list(config.get("class_names") or [])
    multilabel = config.get("label_kind") == "multilabel"
    columns = dict(ds.columns)
    columns["probabilities"] = probs
    if ds.labels is not None:
        columns["true_labels"] = ds.labels.astype(np.uint8 if ds.labels.ndim == 2 else np.int64)
    # multi-label: a label is on where its sigmoid exceeds 0.5; multi-class: the most probable class
    labels = (probs > 0.5).astype(np.uint8) if multilabel else probs.argmax(1).astype(np.int64)
    meta = Meta(
        unit=ds.meta.unit,
        modality=ds.meta.modality,
        class_names=names,
        label_kind="multilabel" if multilabel else "multiclass",
        attrs={**ds.meta.attrs, "predictions": {"task": "classify", "model": str(source), "arch": config.get("arch")}},
        provenance=provenance,
    )
    return ds.replace(meta=meta, labels=labels, columns=columns)


def write_predictions(source: Path, data_path: Path, out: Path, *, device, batch_size: int, provenance: dict,
                      force: bool) -> int:
    """:func:`predict` streamed: the frames are read, classified and written block by block, so
    memory stays flat in N (a ``.pt`` checkpoint; an ensemble goes through :func:`predict`).
    Returns the number of frames written."""
    import torch

    from thermcli import interrupt
    from thermcli.io import Meta, create_writer, open_dataset
    from thermcli.models.checkpoint import load_checkpoint
    from thermcli.stages.classify_data import Normalization
    from thermcli.stages.classify_stream import BlockFrames, scan

    model, config, _ = load_checkpoint(source, expect_task="classify")
    norm = Normalization(**config["normalization"])
    info = scan(data_path, frames_k=int(config.get("frames", 1)), centered=config.get("window") == "centered", norm=norm,
                need_labels=False, grey=bool(config.get("grey", False)))
    check_frame_shape(config, info.frame_shape, data_path)
    check_channels(config, info.channels, data_path)
    data = BlockFrames(data_path, info, memory=False)
    names = list(config.get("class_names") or [])
    multilabel = config.get("label_kind") == "multilabel"
    model.to(device)
    model.eval()
    try:
        with open_dataset(data_path) as reader:
            meta = Meta(
                unit=reader.meta.unit,
                modality=reader.meta.modality,
                class_names=names,
                label_kind="multilabel" if multilabel else "multiclass",
                attrs={**reader.meta.attrs, "predictions": {"task": "classify", "model": str(source),
                                                            "arch": config.get("arch")}},
                provenance=provenance,
            )
            with create_writer(out, meta, force=force) as writer:
                for lo in range(0, info.n, info.block):
                    interrupt.check()
                    hi = min(lo + info.block, info.n)
                    logits = []
                    with torch.no_grad():
                        for a in range(lo, hi, batch_size):
                            x, _ = data.batch(np.arange(a, min(a + batch_size, hi)))
                            logits.append(model(x.to(device)).float().cpu())
                    z = torch.cat(logits)
                    probs = (torch.sigmoid(z) if multilabel else torch.softmax(z, dim=1)).numpy().astype(np.float32)
                    ds = reader.read(lo, hi)
                    columns = dict(ds.columns)
                    columns["probabilities"] = probs
                    if ds.labels is not None:
                        columns["true_labels"] = ds.labels.astype(np.uint8 if ds.labels.ndim == 2 else np.int64)
                    labels = (probs > 0.5).astype(np.uint8) if multilabel else probs.argmax(1).astype(np.int64)
                    writer.append(ds.replace(meta=meta, labels=labels, columns=columns))
    finally:
        data.close()
    return info.n
