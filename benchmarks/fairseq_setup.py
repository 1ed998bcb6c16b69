"""Real fairseq training updates on fabricated batches, for the update benchmarks.

Everything goes through fairseq's own entry points (argument parser with
``--user-dir``, ``tasks.setup_task``, ``task.build_model``,
``task.build_criterion``, ``fairseq.trainer.Trainer.train_step``), so an
update here is the update ``fairseq-train`` runs, minus data loading. Data
are fabricated: a dictionary of V symbols on disk (the translation task
insists on reading one) and random token batches of one fixed shape, so every
configuration sees identical shapes and the doubled batch is exactly twice
the sentences.
"""

import os
import tempfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
from common import quiet_fairseq_logging
from loss_formulas import official_parts

quiet_fairseq_logging()

from fairseq import options, tasks, utils  # noqa: E402
from fairseq.criterions import register_criterion  # noqa: E402
from fairseq.criterions.label_smoothed_cross_entropy import (  # noqa: E402
    LabelSmoothedCrossEntropyCriterion,
    LabelSmoothedCrossEntropyCriterionConfig,
)
from fairseq.dataclass.utils import convert_namespace_to_omegaconf  # noqa: E402
from fairseq.trainer import Trainer  # noqa: E402

from rdrop_fairseq import USER_DIR  # noqa: E402  (registers task + criterion, as --user-dir does)

SMALL_TRANSFORMER = [
    "--arch",
    "transformer",
    "--encoder-layers",
    "3",
    "--decoder-layers",
    "3",
    "--encoder-embed-dim",
    "256",
    "--decoder-embed-dim",
    "256",
    "--encoder-ffn-embed-dim",
    "1024",
    "--decoder-ffn-embed-dim",
    "1024",
    "--encoder-attention-heads",
    "4",
    "--decoder-attention-heads",
    "4",
]

# name -> (architecture args, vocabulary, tokens per batch T, sentence length)
PRESETS = {
    # scripts/gpu-check.sh --tiny: every step of the GPU check, in seconds on a CPU
    "tiny": (
        SMALL_TRANSFORMER[:2]
        + ["--encoder-layers", "1", "--decoder-layers", "1"]
        + ["--encoder-embed-dim", "32", "--decoder-embed-dim", "32"]
        + ["--encoder-ffn-embed-dim", "64", "--decoder-ffn-embed-dim", "64"]
        + ["--encoder-attention-heads", "2", "--decoder-attention-heads", "2"],
        500,
        64,
        16,
    ),
    "cpu-small": (SMALL_TRANSFORMER, 10000, 1024, 32),
    "iwslt": (["--arch", "transformer_iwslt_de_en"], 10000, 4096, 32),
    "wmt-big": (["--arch", "transformer_vaswani_wmt_en_de_big"], 32768, 4096, 64),
}


def add_model_options(p) -> None:
    """--device, --dtype, --preset and --threads, as every update benchmark takes them."""
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--dtype", default=None, choices=["fp32", "fp16", "bf16"], help="default fp32 on CPU, fp16 on CUDA"
    )
    p.add_argument(
        "--preset",
        default=None,
        choices=sorted(PRESETS),
        help="model/vocab/T; default cpu-small on CPU, iwslt on CUDA",
    )
    p.add_argument("--threads", type=int, default=None)


def model_defaults(args) -> bool:
    """Fill in --dtype and --preset for the device; whether it is CUDA."""
    cuda = args.device.startswith("cuda")
    args.dtype = args.dtype or ("fp16" if cuda else "fp32")
    args.preset = args.preset or ("iwslt" if cuda else "cpu-small")
    return cuda


@dataclass
class OfficialRDropConfig(LabelSmoothedCrossEntropyCriterionConfig):
    bench_alpha: float = field(default=5.0, metadata={"help": "R-Drop alpha"})


@register_criterion("bench_official_rdrop", dataclass=OfficialRDropConfig)
class OfficialRDropCriterion(LabelSmoothedCrossEntropyCriterion):
    """Benchmark-only: R-Drop exactly as the paper's formula reads (see
    ``loss_formulas.official_parts``), on a batch duplicated by concatenation."""

    def __init__(
        self,
        task,
        sentence_avg,
        label_smoothing,
        ignore_prefix_size=0,
        report_accuracy=False,
        bench_alpha=5.0,
    ):
        super().__init__(task, sentence_avg, label_smoothing, ignore_prefix_size, report_accuracy)
        self.alpha = bench_alpha

    def forward(self, model, sample, reduce=True):
        if not model.training:
            return super().forward(model, sample, reduce)
        doubled = {k: torch.cat([v, v]) if torch.is_tensor(v) else v for k, v in sample["net_input"].items()}
        logits = model(**doubled)[0]
        target = sample["target"].reshape(-1)
        ls, nll, kl = official_parts(logits.view(-1, logits.size(-1)), target, self.eps, self.padding_idx)
        loss = ls + self.alpha * kl
        ntokens = sample["ntokens"]
        return (
            loss,
            ntokens,
            {
                "loss": loss.data,
                "nll_loss": nll.data,
                "ntokens": ntokens,
                "nsentences": sample["target"].size(0),
                "sample_size": ntokens,
            },
        )


# name -> (task, criterion args, batch multiplier)
CONFIGS = {
    "ls@T": ("translation", ["--criterion", "label_smoothed_cross_entropy"], 1),
    "ls@2T": ("translation", ["--criterion", "label_smoothed_cross_entropy"], 2),
    "rdrop@T": (
        "rdrop_translation",
        ["--criterion", "reg_label_smoothed_cross_entropy", "--reg-alpha", "5"],
        1,
    ),
    "rdrop-reference@T": (
        "rdrop_translation",
        [
            "--criterion",
            "reg_label_smoothed_cross_entropy",
            "--reg-alpha",
            "5",
            "--reg-loss-impl",
            "reference",
        ],
        1,
    ),
    "fairseq-builtin@T": (
        "translation",
        ["--criterion", "label_smoothed_cross_entropy_with_rdrop", "--rdrop-alpha", "5"],
        1,
    ),
    "official@T": ("translation", ["--criterion", "bench_official_rdrop", "--bench-alpha", "5"], 1),
    "rdrop-passes3@T": (
        "rdrop_translation",
        ["--criterion", "reg_label_smoothed_cross_entropy", "--reg-alpha", "5", "--reg-passes", "3"],
        1,
    ),
    "rdrop-dropouts0.1,0.3@T": (
        "rdrop_translation",
        ["--criterion", "reg_label_smoothed_cross_entropy", "--reg-alpha", "5", "--reg-dropouts", "0.1,0.3"],
        1,
    ),
}

_DICT_DIRS: Dict[int, str] = {}


def dictionary_dir(vocab: int) -> str:
    """A data dir holding only dict.{src,tgt}.txt with ``vocab`` symbols in all."""
    if vocab not in _DICT_DIRS:
        path = tempfile.mkdtemp(prefix=f"rdrop_bench_dict{vocab}_")
        # fairseq adds 4 specials (bos, pad, eos, unk) in front of the file's symbols
        words = "".join(f"w{i} 1\n" for i in range(vocab - 4))
        for lang in ("src", "tgt"):
            with open(os.path.join(path, f"dict.{lang}.txt"), "w") as f:
                f.write(words)
        _DICT_DIRS[vocab] = path
    return _DICT_DIRS[vocab]


@dataclass
class Setup:
    name: str
    trainer: Trainer
    sentences: int
    sent_len: int
    vocab: int
    device: torch.device
    batch: dict = None

    @property
    def target_tokens(self) -> int:
        return self.sentences * self.sent_len

    def sample(self) -> dict:
        """A fresh dict around the same tensors every call: fairseq's built-in
        criterion rewrites ``sample['net_input']`` in place when it duplicates."""
        b = self.batch
        return {
            "id": b["id"],
            "nsentences": b["nsentences"],
            "ntokens": b["ntokens"],
            "net_input": dict(b["net_input"]),
            "target": b["target"],
        }

    def update(self) -> None:
        self.trainer.train_step([self.sample()])


def fabricate_batch(sentences: int, sent_len: int, vocab: int, seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    nspecial, eos = 4, 2
    src = torch.randint(nspecial, vocab, (sentences, sent_len), generator=gen)
    src[:, -1] = eos
    tgt = torch.randint(nspecial, vocab, (sentences, sent_len), generator=gen)
    tgt[:, -1] = eos
    prev = torch.cat([torch.full((sentences, 1), eos), tgt[:, :-1]], dim=1)
    return {
        "id": torch.arange(sentences),
        "nsentences": sentences,
        "ntokens": sentences * sent_len,
        "net_input": {
            "src_tokens": src,
            "src_lengths": torch.full((sentences,), sent_len, dtype=torch.long),
            "prev_output_tokens": prev,
        },
        "target": tgt,
    }


def build(
    name: str,
    arch_args: List[str],
    vocab: int,
    tokens: int,
    sent_len: int,
    device: str = "cpu",
    dtype: str = "fp32",
    seed: int = 1,
    extra: Optional[List[str]] = None,
) -> Setup:
    task_name, criterion_args, multiplier = CONFIGS[name]
    argv = [
        dictionary_dir(vocab),
        "--user-dir",
        USER_DIR,
        "--task",
        task_name,
        "--source-lang",
        "src",
        "--target-lang",
        "tgt",
        *arch_args,
        "--share-all-embeddings",
        "--dropout",
        "0.3",
        *criterion_args,
        "--label-smoothing",
        "0.1",
        "--optimizer",
        "adam",
        "--adam-betas",
        "(0.9,0.98)",
        "--lr",
        "5e-4",
        "--lr-scheduler",
        "inverse_sqrt",
        "--warmup-updates",
        "4000",
        "--clip-norm",
        "0.0",
        "--max-tokens",
        str(tokens * multiplier),
        "--seed",
        str(seed),
        "--no-progress-bar",
        "--log-format",
        "none",
        "--save-dir",
        tempfile.gettempdir(),
    ]
    if device == "cpu":
        argv.append("--cpu")
    if dtype == "fp16":
        argv.append("--fp16")
    elif dtype == "bf16":
        argv.append("--bf16")
    argv += extra or []
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, input_args=argv)
    cfg = convert_namespace_to_omegaconf(args)
    utils.set_torch_seed(seed)
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    criterion = task.build_criterion(cfg.criterion)
    trainer = Trainer(cfg, task, model, criterion)
    sentences = max(1, tokens // sent_len) * multiplier
    setup = Setup(name, trainer, sentences, sent_len, vocab, torch.device(device))
    # the same sentences for every configuration; the doubled batch repeats the
    # draw with a second seed so it is not a literal copy of the first half
    first = fabricate_batch(sentences // multiplier, sent_len, vocab, seed=1234)
    if multiplier > 1:
        rest = [
            fabricate_batch(sentences // multiplier, sent_len, vocab, seed=1234 + i)
            for i in range(1, multiplier)
        ]
        first = {
            "id": torch.arange(sentences),
            "nsentences": sentences,
            "ntokens": sentences * sent_len,
            "net_input": {
                k: torch.cat([first["net_input"][k]] + [r["net_input"][k] for r in rest])
                for k in first["net_input"]
            },
            "target": torch.cat([first["target"]] + [r["target"] for r in rest]),
        }
    setup.batch = first
    return setup
