"""Issue 21: what fairseq would crash on (or silently get wrong) with an R-Drop task
in the path ends in the plugin's one error line naming the flag to change: the
task family, the folder layout, the number of classes, fp16/bf16 without a GPU,
--update-freq, --batch-size, adaptive-softmax cutoffs, --max-tokens, an empty split,
a valid split longer than the model's positions, --tokens-per-sample against them
and an architecture of another task.

Most are raised where fairseq-train would build them (setup_task, build_model,
build_criterion, get_batch_iterator) and are checked in process; one
fairseq-train run shows how such an error reaches the user."""

import os
import subprocess
import sys

import pytest
from conftest import TINY_MODEL, write_dicts
from conftest import build as build_translation
from test_language_modeling import TINY_LM
from test_sentence_prediction import TINY_ROBERTA, write_glue_dicts
from test_sentence_prediction import build as build_sentence

import rdrop_fairseq
from rdrop_fairseq.errors import RDropConfigError

BIN = os.path.dirname(sys.executable)
LS = "reg_label_smoothed_cross_entropy"
MT = ["--task", "rdrop_translation", "--criterion", LS, *TINY_MODEL]


def lm_folder(folder):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "dict.txt"), "w") as f:
        f.writelines(f"w{i} {100 - i}\n" for i in range(30))
    return str(folder)


def build_lm(data, *flags, criterion=LS):
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    argv = [data, "--user-dir", rdrop_fairseq.USER_DIR, "--cpu", "--task", "rdrop_language_modeling"]
    argv += [*TINY_LM, "--criterion", criterion, *flags]
    cfg = convert_namespace_to_omegaconf(options.parse_args_and_arch(options.get_training_parser(), argv))
    task = tasks.setup_task(cfg.task)
    return task, task.build_model(cfg.model), task.build_criterion(cfg.criterion)


@pytest.fixture
def folders(tmp_path):
    mt = write_dicts(str(tmp_path / "mt"))
    lm = lm_folder(tmp_path / "lm")
    sp = write_glue_dicts(str(tmp_path / "sp"), classes=("no", "yes"))
    no_label = write_glue_dicts(str(tmp_path / "nolabel"))
    os.remove(os.path.join(no_label, "label", "dict.txt"))
    return {"mt": mt, "lm": lm, "sp": sp, "nolabel": no_label}


def mt(folders, *flags):
    return build_translation(folders["mt"], *MT, *flags)


def lm(folders, *flags, **kwargs):
    return build_lm(folders["lm"], *flags, **kwargs)


def mt_arch(folders, *flags):
    """The translation task with only the given model flags (TINY_MODEL's are a transformer's)."""
    return build_translation(folders["mt"], "--task", "rdrop_translation", "--criterion", LS, *flags)


def sp(folders, *flags, data="sp", criterion="reg_sentence_prediction"):
    return build_sentence(folders[data], *TINY_ROBERTA, "--num-classes", "2", *flags, criterion=criterion)


CASES = {
    # the task family: fairseq's AttributeError 'label_dictionary', omegaconf's InterpolationKeyError
    "mt + reg_sentence_prediction": (
        mt,
        ["--criterion", "reg_sentence_prediction"],
        "--criterion reg_label_",
    ),
    "lm + reg_sentence_prediction": (lm, [], "--criterion reg_label_"),
    "sp + reg_label_smoothed": (sp, [], "--criterion reg_sentence_prediction"),
    "mt + sentence_prediction": (mt, ["--criterion", "sentence_prediction"], "--criterion reg_label_"),
    # the folder layout: FileNotFoundError, "Could not infer language pair"
    "sp without label/": (sp, [], "no label/dict.txt"),
    "mt of another pair": (mt, ["--source-lang", "de", "--target-lang", "en"], "--source-lang/--target-lang"),
    # the labels against --num-classes: a 5-way head on two classes trained silently
    "num-classes 5 on 2 classes": (sp, ["--num-classes", "5"], "set --num-classes 2"),
    # half precision without a GPU: CUDA assert (fp16), XLA AttributeError (bf16)
    "fp16 --cpu": (mt, ["--fp16"], "drop --fp16"),
    "bf16 --cpu": (lm, ["--bf16"], "drop --bf16"),
    "fp16 --cpu sp": (sp, ["--fp16"], "drop --fp16"),
    "memory-efficient-bf16 --cpu": (mt, ["--memory-efficient-bf16"], "drop --memory-efficient-bf16"),
    # --batch-size 0 is no limit to fairseq: the whole split in one batch, silently
    "batch-size 0": (mt, ["--batch-size", "0"], "--batch-size must be >= 1"),
    "batch-size-valid -1": (lm, ["--batch-size-valid", "-1"], "--batch-size-valid must be >= 1"),
    # every block longer than the model's positions is dropped: an empty epoch, IndexError
    "tokens-per-sample over the positions": (
        lm,
        ["--tokens-per-sample", "4096", "--max-target-positions", "512"],
        "set --tokens-per-sample 512 or --max-target-positions 4096",
    ),
    # an architecture of another task: AttributeError 'supported_targets', InterpolationKeyError
    "lm + translation arch": (lm, ["--arch", "transformer"], "use an architecture such as transformer_lm"),
    "mt + lm arch": (mt_arch, ["--arch", "transformer_lm"], "use an architecture such as transformer,"),
    "mt + roberta arch": (mt_arch, ["--arch", "roberta_base"], "does not build a FairseqEncoderDecoderModel"),
    # ZeroDivisionError, "__len__() should return >= 0"
    "update-freq 0": (mt, ["--update-freq", "0"], "--update-freq must be >= 1"),
    "update-freq -1": (lm, ["--update-freq", "-1"], "--update-freq must be >= 1"),
    # adaptive softmax: fairseq's assert, a negative Linear size in torch, a NameError from eval
    "cutoff over the vocabulary": (lm, ["--adaptive-softmax-cutoff", "10,500"], "--adaptive-softmax-cutoff"),
    "cutoff unsorted": (lm, ["--adaptive-softmax-cutoff", "20,10"], "increasing"),
    "cutoff not numbers": (lm, ["--adaptive-softmax-cutoff", "a,b"], "comma-separated"),
    "mt cutoff over the vocabulary": (
        mt,
        ["--adaptive-softmax-cutoff", "10,500"],
        "--adaptive-softmax-cutoff",
    ),
    # label smoothing outside [0, 1) rewards wrong words, silently
    "label smoothing 1.5": (mt, ["--label-smoothing", "1.5"], "--label-smoothing must be in [0, 1)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_setting_fairseq_would_crash_on_is_one_clear_error(folders, case):
    builder, flags, fix = CASES[case]
    kwargs = {"criterion": LS} if case == "sp + reg_label_smoothed" else {}
    if case == "lm + reg_sentence_prediction":
        kwargs = {"criterion": "reg_sentence_prediction"}
    if case == "sp without label/":
        kwargs = {"data": "nolabel"}
    with pytest.raises(RDropConfigError) as raised:
        builder(folders, *flags, **kwargs)
    message = str(raised.value)
    assert fix in message and "\n" not in message


@pytest.fixture(scope="module")
def empty_train(tmp_path_factory):
    """A translation folder whose train split is binarized from empty files."""
    from toy_corpus import binarized

    root = str(tmp_path_factory.mktemp("empty"))
    data = binarized(root, train=20)
    for lang in ("src", "tgt"):
        open(os.path.join(data, f"train.src-tgt.{lang}.bin"), "w").close()
    return data


def test_an_empty_split_and_a_batch_smaller_than_a_sentence_are_clear_errors(empty_train, data_bin):
    _, task, _, _ = build_translation(empty_train, *MT)
    with pytest.raises(RDropConfigError, match="train split holds no examples"):
        task.load_dataset("train")
    # fairseq-train skips every longer sentence with one warning (a language model: IndexError)
    _, task, _, _ = build_translation(data_bin, *MT)
    task.load_dataset("valid")
    with pytest.raises(RDropConfigError, match=r"--max-tokens 5 cannot hold .* set --max-tokens \d+"):
        task.get_batch_iterator(task.dataset("valid"), max_tokens=5)
    assert task.get_batch_iterator(task.dataset("valid"), max_tokens=4000) is not None


def test_memory_efficient_fp16_trains_on_the_cpu(folders):
    # its optimizer needs no CUDA (fp16 weights on the CPU): not refused as --fp16 is
    mt(folders, "--memory-efficient-fp16")


def test_a_valid_split_longer_than_the_model_takes_is_a_clear_error(data_bin):
    # fairseq-train skips such train examples (one warning), but stops on valid ones after an epoch
    _, task, _, _ = build_translation(data_bin, *MT, "--max-source-positions", "6")
    task.load_dataset("train")
    with pytest.raises(
        RDropConfigError, match=r"valid split has \d+ example.* limit is 6/1024.*--max-source-"
    ):
        task.load_dataset("valid")
    _, task, _, _ = build_translation(
        data_bin, *MT, "--max-source-positions", "6", "--skip-invalid-size-inputs-valid-test"
    )
    task.load_dataset("valid")


@pytest.fixture(scope="module")
def lm_bin(data_bin):
    """The toy corpus's source side binarized for language modeling."""
    raw, lm = (
        os.path.join(os.path.dirname(data_bin), "raw"),
        os.path.join(os.path.dirname(data_bin), "lm-bin"),
    )
    if not os.path.isdir(lm):
        cmd = [f"{BIN}/fairseq-preprocess", "--only-source", "--destdir", lm, "--workers", "1"]
        cmd += ["--trainpref", os.path.join(raw, "train.src"), "--validpref", os.path.join(raw, "valid.src")]
        subprocess.run(cmd, check=True, capture_output=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    return lm


LM_TASK = ["--task", "rdrop_language_modeling", "--criterion", LS, *TINY_LM]
# one case per place a check fires (criterion, config conversion, valid split, LM model);
# the other inputs are the in-process cases above: the same error path once fairseq-train runs
TRAIN_CASES = {
    "fp16": ("mt", [*MT, "--fp16"], "--fp16 needs a CUDA GPU"),
    "valid longer than the positions": ("mt", [*MT, "--max-source-positions", "6"], "the valid split has"),
    "mt + lm arch": (
        "mt",
        ["--task", "rdrop_translation", "--criterion", LS, "--arch", "transformer_lm"],
        "--arch transformer_lm does not build",
    ),
    "tokens-per-sample over the positions": (
        "lm",
        [*LM_TASK, "--tokens-per-sample", "4096", "--max-target-positions", "512"],
        "--tokens-per-sample 4096",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_fairseq_train_prints_the_error_as_one_line_with_status_2(data_bin, lm_bin, tmp_path, case):
    data, flags, start = TRAIN_CASES[case]
    save = tmp_path / "ckpt"
    cmd = [f"{BIN}/fairseq-train", data_bin if data == "mt" else lm_bin, "--user-dir", rdrop_fairseq.USER_DIR]
    cmd += [*flags, "--cpu", "--max-tokens", "4096", "--max-update", "1", "--save-dir", str(save)]
    cmd += ["--optimizer", "adam"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith(f"rdrop_fairseq: error: {start}"), errors
    assert not list(save.glob("*.pt"))
