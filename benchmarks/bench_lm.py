"""Language-modeling training updates: R-Drop against the doubled batch it
replaces, with a plain softmax and with an adaptive softmax.

Configurations (same model, same fabricated token blocks, T tokens per batch):

* ``ce@2T``: fairseq's ``--task language_modeling --criterion cross_entropy``
  on the doubled batch, the reference of the plain-softmax ratio;
* ``rdrop@T``: ``--task rdrop_language_modeling --criterion
  reg_label_smoothed_cross_entropy --reg-alpha 1`` (fused loss head);
* ``adaptive@2T``: fairseq's ``adaptive_loss`` on the doubled batch, with
  ``--adaptive-softmax-cutoff``, the reference of the adaptive ratio;
* ``rdrop-adaptive@T``: ours with the same adaptive softmax (exact factorised
  KL: every tail for every row, checkpointed row chunks).

    python benchmarks/bench_lm.py               # CPU
    python benchmarks/bench_lm.py --quick
    python benchmarks/bench_lm.py --device cuda --tokens 8192 --vocab 50000

Updates are interleaved round-robin in one process; medians reported.
"""

import argparse
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine_line, markdown_table, median, quiet_fairseq_logging, round_robin, start  # noqa: E402

quiet_fairseq_logging()

from fairseq import options, tasks, utils  # noqa: E402
from fairseq.dataclass.utils import convert_namespace_to_omegaconf  # noqa: E402
from fairseq.trainer import Trainer  # noqa: E402

from rdrop_fairseq import USER_DIR  # noqa: E402

RDROP = [
    "--task",
    "rdrop_language_modeling",
    "--criterion",
    "reg_label_smoothed_cross_entropy",
    "--reg-alpha",
    "1",
]
# name -> (task and criterion flags, adaptive softmax?, batch multiplier, reference)
CONFIGS = {
    "ce@2T": (["--task", "language_modeling", "--criterion", "cross_entropy"], False, 2, None),
    "rdrop@T": (RDROP, False, 1, "ce@2T"),
    "adaptive@2T": (["--task", "language_modeling", "--criterion", "adaptive_loss"], True, 2, None),
    "rdrop-adaptive@T": (RDROP, True, 1, "adaptive@2T"),
}


def dictionary_dir(vocab):
    path = tempfile.mkdtemp(prefix=f"rdrop_bench_lm{vocab}_")
    with open(os.path.join(path, "dict.txt"), "w") as f:
        f.writelines(f"w{i} 1\n" for i in range(vocab - 4))  # fairseq adds 4 specials
    return path


def build(name, args, data):
    flags, adaptive, mult, _ = CONFIGS[name]
    argv = [data, "--user-dir", USER_DIR, *flags, "--arch", "transformer_lm", "--decoder-layers", "3"]
    argv += [
        "--decoder-embed-dim",
        "256",
        "--decoder-ffn-embed-dim",
        "1024",
        "--decoder-attention-heads",
        "4",
    ]
    argv += [
        "--dropout",
        "0.1",
        "--tokens-per-sample",
        str(args.block),
        "--optimizer",
        "adam",
        "--lr",
        "5e-4",
    ]
    argv += [
        "--max-tokens",
        str(args.tokens * mult),
        "--seed",
        "1",
        "--log-format",
        "none",
        "--no-progress-bar",
    ]
    argv += ["--ddp-backend", "legacy_ddp", "--save-dir", tempfile.gettempdir()] + (
        ["--cpu"] if args.device == "cpu" else ["--fp16"]
    )
    if adaptive:
        argv += ["--adaptive-softmax-cutoff", ",".join(str(c) for c in args.cutoff)]
    else:
        argv += ["--share-decoder-input-output-embed"]
    cfg = convert_namespace_to_omegaconf(options.parse_args_and_arch(options.get_training_parser(), argv))
    utils.set_torch_seed(1)
    task = tasks.setup_task(cfg.task)
    trainer = Trainer(cfg, task, task.build_model(cfg.model), task.build_criterion(cfg.criterion))
    rows = args.tokens // args.block * mult
    gen = torch.Generator().manual_seed(1234)
    tokens = torch.randint(4, args.vocab, (rows, args.block + 1), generator=gen)
    sample = {
        "id": torch.arange(rows),
        "nsentences": rows,
        "ntokens": rows * args.block,
        "net_input": {
            "src_tokens": tokens[:, :-1].contiguous(),
            "src_lengths": torch.full((rows,), args.block),
        },
        "target": tokens[:, 1:].contiguous(),
    }
    return lambda: trainer.train_step([{**sample, "net_input": dict(sample["net_input"])}])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--tokens", type=int, default=1024, help="T: tokens per batch")
    p.add_argument("--block", type=int, default=128, help="tokens per sample")
    p.add_argument("--vocab", type=int, default=20000)
    p.add_argument("--cutoff", type=int, nargs="+", default=[2000, 8000])
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.tokens, args.rounds, args.vocab, args.cutoff = 256, 3, 4000, [500, 2000]
    device = start(args)
    print(
        f"# LM training updates: transformer_lm 3x256, V={args.vocab}, T={args.tokens}, blocks of {args.block}"
    )
    print(f"# adaptive softmax cutoff {args.cutoff}; machine: {machine_line(device)}", flush=True)
    data = dictionary_dir(args.vocab)
    runners = {name: build(name, args, data) for name in CONFIGS}
    times = round_robin(runners, device, warmup=1, rounds=args.rounds)
    med = {name: median(t) for name, t in times.items()}
    rows = []
    for name, (_, _, mult, ref) in CONFIGS.items():
        ratio = med[name] / med[ref] if ref else 1.0
        best = min(times[name]) / min(times[ref]) if ref else 1.0
        rows.append([name, args.tokens * mult, med[name] * 1e3, ratio, best])
    print()
    print(
        markdown_table(
            ["config", "tokens/update", "ms/update (median)", "time / its 2T", "(ratio of minima)"], rows
        )
    )
    ratio = med["rdrop@T"] / med["ce@2T"]
    print(
        f"\nR-Drop LM update / doubled batch: {ratio:.3f} (target <= 1.05 on CPU: {'met' if ratio <= 1.05 else 'MISSED'})"
    )
    print(
        f"Exact adaptive-softmax R-Drop / doubled adaptive batch: {med['rdrop-adaptive@T'] / med['adaptive@2T']:.3f}"
    )


if __name__ == "__main__":
    main()
