"""Every option of `train` and `distill`, for every task (and mode), is either used — it changes
the typed job the command runs — or refused with exit 2 naming it. The options come from the
typer commands themselves, so a new option is walked too (and fails here until it has a sample
value below and is used or refused)."""

from __future__ import annotations

import pytest

# a valid, non-default value for each option (a flag alone for booleans)
SAMPLES: dict[str, list[str]] = {
    "--val": ["v.h5"], "--arch": ["resnet18"], "--weights": ["imagenet"], "--frames": ["3"], "--window": ["centered"],
    "--normalize": ["window"], "--finetune": ["frozen"], "--balance": ["none"], "--contrastive-weight": ["0.5"],
    "--margin": ["0.5"], "--dropout": ["0.1"], "--norm": ["group"], "--width": ["8"], "--epochs": ["3"],
    "--batch-size": ["4"], "--lr": ["0.01"], "--weight-decay": ["0.01"], "--optimizer": ["sgd"],
    "--scheduler": ["cosine"], "--patience": ["3"], "--grad-clip": ["1.0"], "--amp": ["--amp"], "--cv": ["loso"],
    "--head": ["svm+rf", "--features", "f.pt"], "--features": ["g.pt"], "--ensemble-weights": ["1,1"],
    "--svm-c": ["1"], "--trees": ["50"], "--input-size": ["64x48"], "--sigma": ["3"], "--loss": ["mse"],
    "--map-weight": ["10"], "--color-jitter": ["--color-jitter"], "--side": ["rgb"],
    "--teacher-weights": ["vit.pth"], "--flip-test": ["--no-flip-test"], "--augment": ["--no-augment"],
    "--subjects": ["s1,s2"], "--exclude-subjects": ["s0"], "--seed": ["5"], "--device": ["cpu"],
    "--resume": ["--resume"], "--force": ["--force"], "--student": ["resnet18"], "--temperature": ["2"],
    "--alpha": ["0.7"], "--beta": ["0.3"], "--target": ["labels"], "--test": ["t.h5"], "--cache": ["c.h5"],
    "--plot": ["p.png"], "--teacher-copies": ["2"], "--adapter": ["--no-adapter"], "--latent-norm": ["channel"],
    "--teacher": ["u.pt"], "--stem": ["conv2x3"], "--grey": ["--grey"],
}
# a task's own valid values where the shared sample does not fit it
TASK_SAMPLES: dict[str, dict[str, list[str]]] = {
    "detect": {"--arch": ["fcos_resnet50_fpn"], "--weights": ["coco.pth"], "--input-size": ["128x160"]},
}
# an option whose values differ between commands (distill --cache FILE, train --cache memory|none)
SAMPLES_BY_COMMAND: dict[tuple[str, str], list[str]] = {("train", "--cache"): ["none"]}
# options that are not part of the job: the presentation of its result, and the task selector
PRESENTATION = {"json_out", "task"}

# (command, task, mode arguments, options that select the mode)
MODES = [
    ("train", "classify", [], set()),
    ("train", "classify", ["--cv", "loso"], {"cv"}),
    ("train", "classify", ["--head", "svm+rf", "--features", "f.pt"], {"head"}),
    ("train", "keypoints", [], set()),
    ("train", "keypoints", ["--cv", "loso"], {"cv"}),
    ("train", "detect", [], set()),
    ("distill", "classify", [], set()),
    ("distill", "keypoints", ["--beta", "0.2,0.4"], set()),
]


def _command(name: str):
    from typer.main import get_command

    from thermcli.cli.main import app

    return get_command(app).commands[name]


def _base(command: str, task: str, mode: list[str]) -> list[str]:
    args = ["data.h5", "--task", task, "--out", "runs/x", *mode]
    return args + (["--teacher", "t.pt"] if command == "distill" else [])


def _job(command: str, args: list[str]):
    from thermcli.cli import distill, train

    ctx = _command(command).make_context(command, list(args))
    params = dict(ctx.params)
    given = train.given_options(ctx)
    if command == "train":
        return train.train_applicable(params["task"], params)[0], train.build_train_job(params["task"], params, given)
    return distill.distill_applicable(params["task"], params)[0], distill.build_distill_job(params["task"], params, given)


def _options(command: str):
    for param in _command(command).params:
        if param.param_type_name == "option" and param.name not in PRESENTATION and param.name != "help":
            yield param


@pytest.mark.parametrize("command,task,mode,selectors", MODES, ids=[f"{c}-{t}-{' '.join(m) or 'default'}" for c, t, m, _ in MODES])
def test_every_option_is_used_or_refused(cli, command, task, mode, selectors):
    base = _base(command, task, mode)
    applicable, job = _job(command, base)
    checked = {"used": [], "refused": []}
    for param in _options(command):
        if param.name in selectors or param.name in ("out",):
            continue
        opt = max(param.opts, key=len)
        assert opt in SAMPLES, f"{command} {opt}: add a sample value to SAMPLES (and use or refuse the option)"
        sample = SAMPLES_BY_COMMAND.get((command, opt), TASK_SAMPLES.get(task, {}).get(opt, SAMPLES[opt]))
        given = sample if sample[0].startswith("--") else [opt, *sample]
        if param.name in applicable:
            _, other = _job(command, [*base, *given])
            assert other != job, f"{command} --task {task} {' '.join(mode)}: {opt} is accepted but changes nothing"
            checked["used"].append(opt)
        else:
            result = cli(command, *base, *given)
            assert result.exit_code == 2, (opt, result.output)
            names = [*param.opts, *getattr(param, "secondary_opts", [])]
            assert any(name in result.stderr for name in names), (opt, result.stderr)
            assert "does not apply" in result.stderr, result.stderr
            checked["refused"].append(opt)
    assert checked["used"]
    if (command, task, tuple(mode)) == ("train", "classify", ()):
        assert "--sigma" in checked["refused"] and "--subjects" in checked["refused"]
    if (command, task) == ("distill", "keypoints"):
        assert "--temperature" in checked["refused"] and "--optimizer" in checked["used"]
    if (command, task) == ("train", "detect"):
        assert {"--optimizer", "--seed", "--resume", "--weights", "--augment", "--color-jitter"} <= set(checked["used"])
        assert {"--sigma", "--cv", "--frames", "--head"} <= set(checked["refused"])
    if (command, task) == ("train", "keypoints") and not mode:
        assert {"--optimizer", "--weight-decay", "--cv"} <= set(checked["used"])


def test_combinations_are_checked_by_the_configs():
    """Library callers get the same checks as the CLI: the configs validate themselves."""
    from pathlib import Path

    from thermcli.errors import UsageError
    from thermcli.stages.distill_keypoints import KeypointDistillConfig, KeypointDistillJob
    from thermcli.stages.train_classify import ClassifyConfig, ClassifyJob
    from thermcli.stages.train_detect import DetectConfig
    from thermcli.stages.train_keypoints import KeypointJob, KeypointTrainConfig
    from thermcli.stages.trainer import LoopConfig

    loop = LoopConfig()
    cases = [
        (lambda: LoopConfig(optimizer="adam"), "--optimizer"),
        (lambda: LoopConfig(grad_clip=-1.0), "--grad-clip"),
        (lambda: KeypointTrainConfig(loss="mse", map_weight=10), "--map-weight"),
        (lambda: KeypointTrainConfig(augment=False, color_jitter=True), "--color-jitter"),
        (lambda: DetectConfig(augment=False, color_jitter=True), "--color-jitter"),
        (lambda: KeypointTrainConfig(arch="vit_tiny", weights="imagenet"), "--weights"),  # ViTs ignored it
        (lambda: KeypointDistillConfig(student="vit_tiny", weights="x.pt"), "--weights"),
        (lambda: KeypointJob(Path("d"), Path("o"), KeypointTrainConfig(cv="loso"), loop, val=Path("v")), "--val"),
        (lambda: KeypointJob(Path("d"), Path("o"), KeypointTrainConfig(cv="loso"), loop, resume=True), "--resume"),
        (lambda: ClassifyJob(Path("d"), Path("o"), ClassifyConfig(), loop, cv="kfold"), "--cv"),
        (lambda: ClassifyConfig(balance="oversample"), "--balance"),
        (lambda: KeypointDistillConfig(betas=(0.2, 1.5)), "--beta"),
        (lambda: KeypointDistillJob(Path("d"), Path("t"), Path("o"), KeypointDistillConfig(), loop, plot=Path("p.png")),
         "--plot"),
    ]
    for build, option in cases:
        with pytest.raises(UsageError) as info:
            build()
        assert info.value.param == option, (option, info.value.one_line())


def test_amp_is_refused_on_the_cpu(cli, tmp_path):
    from tests.conftest import assert_clean_error, make_dataset
    from thermcli.io import write_dataset

    write_dataset(tmp_path / "d.h5", make_dataset(n=16))
    result = cli("train", tmp_path / "d.h5", "--width", "4", "--epochs", "1", "--device", "cpu", "--amp",
                 "--out", tmp_path / "r")
    assert_clean_error(result, 2, "--amp", "CUDA")
    assert not (tmp_path / "r").exists()
