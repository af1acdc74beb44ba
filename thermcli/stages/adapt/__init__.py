"""Adversarial domain adaptation: ADDA (Tzeng et al. 2017) and DANN (Ganin et al. 2016).

Labelled source frames teach an encoder + classifier (stage 1, "source only"); unlabelled target
frames are then aligned with the source in feature space:

- ADDA: a target encoder, initialised from the source encoder, is trained against a domain
  discriminator with the inverted-label GAN loss while the source encoder stays frozen
  (Adam, lr 2e-4, β1 0.5); target frames are classified by the target encoder + the unchanged
  source classifier (stage 3).
- DANN: one encoder (warm-started from stage 1) trained jointly on the source classification
  loss and a domain classifier behind a gradient-reversal layer, λ_p = 2/(1+e^(−10p)) − 1 and
  Ganin's annealed SGD learning rate μ_p = μ0 / (1 + 10p)^0.75.

Every stage trains through the one training loop (:func:`thermcli.stages.trainer.fit`), which
owns epochs, seeding and RNG state, checkpoints, ``--resume``, Ctrl-C/SIGTERM and the run folder.
Target labels are never used for training. An optional labelled target validation set is used
only to report accuracy (or per-label F1) per epoch; the provenance says so.

Modules: :mod:`.config` (settings and their validation), :mod:`.data` (reading and reconciling
the domains), :mod:`.build` (networks and checkpoint configs), :mod:`.tasks` (the stages as
training-loop tasks), :mod:`.scoring` (metrics, embedding picture, seed summary), :mod:`.run`
(the driver).
"""

from thermcli.stages.adapt.config import ADDA_UPDATES, ADVERSARY_ON, METHODS, NORMALIZE, SOURCE_OPTIMIZERS, AdaptConfig
from thermcli.stages.adapt.data import Domain, load_domains
from thermcli.stages.adapt.run import run_adapt, run_one
from thermcli.stages.adapt.scoring import embedding_png, per_label_f1, score, summarize_seeds
from thermcli.stages.adapt.tasks import AddaTask, DannTask, SourceTask, StageRun

__all__ = [
    "ADDA_UPDATES", "ADVERSARY_ON", "METHODS", "NORMALIZE", "SOURCE_OPTIMIZERS", "AdaptConfig", "AddaTask", "DannTask",
    "Domain", "SourceTask", "StageRun", "embedding_png", "load_domains", "per_label_f1", "run_adapt",
    "run_one", "score", "summarize_seeds",
]
