"""Shared builders: a fairseq task, model and criterion made in-process from
command-line flags, over a dictionary written to a temporary folder."""

import itertools
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the repository (the packages as a user's checkout has them) and the tests' own helpers
for _path in (REPO, os.path.join(REPO, "tests", "support")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import rdrop_fairseq  # noqa: E402  (registers the task and criterion)

WORDS = [f"w{i}" for i in range(20)]


def mean_pair_kl(kl, copies, direction):
    """Eq. 4's divergence by hand from ``kl(i, j)`` = KL(Pi || Pj): the pair (0, 1)
    for "unidirectional", else the mean over every ordered pair of copies."""
    if direction == "unidirectional":
        return kl(0, 1)
    return sum(kl(i, j) for i, j in itertools.permutations(range(copies), 2)) / (copies * (copies - 1))


def write_dicts(folder, src="src", tgt="tgt"):
    os.makedirs(folder, exist_ok=True)
    for lang in (src, tgt):
        with open(os.path.join(folder, f"dict.{lang}.txt"), "w") as f:
            f.writelines(f"{w} {100 - i}\n" for i, w in enumerate(WORDS))
    return folder


@pytest.fixture
def dict_dir(tmp_path):
    return write_dicts(str(tmp_path / "data"))


def build(data_dir, *flags):
    """(cfg, task, model, criterion) as fairseq-train would build them."""
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    parser = options.get_training_parser()
    argv = [
        data_dir,
        "--user-dir",
        rdrop_fairseq.USER_DIR,
        "--cpu",
        "--source-lang",
        "src",
        "--target-lang",
        "tgt",
        *flags,
    ]
    args = options.parse_args_and_arch(parser, argv)
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    criterion = task.build_criterion(cfg.criterion)
    return cfg, task, model, criterion


TINY_MODEL = [
    "--arch",
    "transformer",
    "--encoder-layers",
    "1",
    "--decoder-layers",
    "1",
    "--encoder-embed-dim",
    "16",
    "--decoder-embed-dim",
    "16",
    "--encoder-ffn-embed-dim",
    "32",
    "--decoder-ffn-embed-dim",
    "32",
    "--encoder-attention-heads",
    "2",
    "--decoder-attention-heads",
    "2",
]


def make_sample(task, pairs):
    """A collated batch (with padding) from (source words, target words) pairs."""
    import torch
    from fairseq.data import LanguagePairDataset

    src_dict, tgt_dict = task.source_dictionary, task.target_dictionary

    def encode(d, text):
        return torch.tensor([d.index(w) for w in text.split()] + [d.eos()], dtype=torch.long)

    srcs = [encode(src_dict, s) for s, _ in pairs]
    tgts = [encode(tgt_dict, t) for _, t in pairs]
    dataset = LanguagePairDataset(
        srcs, [len(s) for s in srcs], src_dict, tgts, [len(t) for t in tgts], tgt_dict
    )
    return dataset.collater([dataset[i] for i in range(len(pairs))])


PAIRS = [
    ("w4 w5 w6 w7", "w8 w9 w10"),
    ("w11 w12", "w13 w14 w15 w16 w17"),
    ("w5 w5 w6", "w9"),
]


@pytest.fixture(scope="session")
def data_bin(tmp_path_factory):
    """A binarized toy corpus (train 2000, valid, test 100), built once per test run."""
    from toy_corpus import binarized

    root = tmp_path_factory.mktemp("toy")
    return binarized(str(root), train=2000, test=100, splits=("train", "valid", "test"))


# ---- devices (issue 22) ---------------------------------------------------------------------
# Tests of the math and of training updates take a ``device`` (the fixture below, or
# ``pytest.mark.parametrize("device", DEVICES)``): the CPU always, CUDA where torch sees a GPU.
# The CUDA cases carry the ``gpu`` marker, so ``pytest -m gpu`` (scripts/gpu-check.sh) selects
# exactly them; without a GPU they are collected and skipped with NO_CUDA as the reason, and the
# same assertions run on both devices, so a CUDA case is never an untested copy.
import torch  # noqa: E402

NO_CUDA = "needs a CUDA GPU: torch.cuda.is_available() is False here"
CUDA_MARKS = (pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA))
DEVICES = [pytest.param("cpu", id="cpu"), pytest.param("cuda", id="cuda", marks=CUDA_MARKS)]
# the half precisions that fairseq's --fp16 / --bf16 and autocast compute in
HALF_DTYPES = [pytest.param(torch.float16, id="fp16"), pytest.param(torch.bfloat16, id="bf16")]


def cuda_only(test):
    """For what only exists on a GPU (fairseq-train --fp16, CUDA peak memory): the gpu marker
    and the NO_CUDA skip, as the CUDA case of DEVICES has them."""
    for mark in CUDA_MARKS:
        test = mark(test)
    return test


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)
