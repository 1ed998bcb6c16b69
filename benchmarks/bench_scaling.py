"""How R-Drop's costs grow with tokens per batch and vocabulary size.

For each (T, V) point the doubled batch ``ls@2T`` and the R-Drop updates at T
(ours, fairseq's built-in, the official formula) are built side by side,
timed interleaved, and each child-measured for peak memory; everything is
reported as a ratio to the doubled batch of the same point. Two sweeps: T at
the preset's vocabulary, and V at the middle T.

    python benchmarks/bench_scaling.py
    python benchmarks/bench_scaling.py --quick
    python benchmarks/bench_scaling.py --device cuda --dtype fp16 --preset wmt-big \\
        --tokens 1024 2048 4096 --vocabs 10000 32768 40000
"""

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fairseq_setup as fs  # noqa: E402
from bench_updates import peak_memory_per_config  # noqa: E402
from common import machine_line, markdown_table, median, round_robin, start  # noqa: E402

CONFIGS = ["ls@2T", "rdrop@T", "fairseq-builtin@T", "official@T"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    fs.add_model_options(p)
    p.add_argument("--tokens", type=int, nargs="+", default=None, help="T values (swept at the preset's V)")
    p.add_argument("--vocabs", type=int, nargs="+", default=None, help="V values (swept at the middle T)")
    p.add_argument("--sent-len", type=int, default=None)
    p.add_argument("--configs", nargs="+", default=CONFIGS, choices=list(fs.CONFIGS))
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--mem-updates", type=int, default=2)
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    cuda = fs.model_defaults(args)
    arch, vocab, tokens, sent_len = fs.PRESETS[args.preset]
    args.arch, args.base_vocab = arch, vocab
    args.sent_len = args.sent_len or sent_len
    if args.tokens is None:
        args.tokens = (
            [128, 256]
            if args.quick
            else (
                [tokens // 4, tokens // 2, tokens]
                if not cuda
                else [tokens // 4, tokens // 2, tokens, tokens * 2]
            )
        )
    if args.vocabs is None:
        args.vocabs = [4000, 10000] if args.quick else [4000, 10000, 32000]
    if args.rounds is None:
        args.rounds = 2 if args.quick else (20 if cuda else 4)
    if "ls@2T" not in args.configs:
        args.configs.insert(0, "ls@2T")
    return args


def measure_point(args, tokens, vocab):
    setups = {
        name: fs.build(name, args.arch, vocab, tokens, args.sent_len, device=args.device, dtype=args.dtype)
        for name in args.configs
    }
    device = torch.device(args.device)
    times = round_robin({n: s.update for n, s in setups.items()}, device, args.warmup, args.rounds, log=False)
    del setups
    if device.type == "cuda":
        torch.cuda.empty_cache()
    mem = {} if args.no_memory else peak_memory_per_config(args, tokens, vocab)
    return {n: median(v) for n, v in times.items()}, mem


def main(argv=None):
    args = parse_args(argv)
    device = start(args)
    print(
        f"# scaling: preset {args.preset}, {args.dtype}, {args.sent_len}-token sentences; "
        f"every number is (config at T) / (ls@2T at the same T and V)",
        flush=True,
    )
    print(f"# machine: {machine_line(device)}", flush=True)
    t0 = time.perf_counter()
    middle = args.tokens[len(args.tokens) // 2]
    points = [(t, args.base_vocab) for t in args.tokens]
    points += [(middle, v) for v in args.vocabs if (middle, v) not in points]
    others = [c for c in args.configs if c != "ls@2T"]
    rows = []
    for tokens, vocab in points:
        print(f"## T={tokens} V={vocab}", file=sys.stderr, flush=True)
        med, mem = measure_point(args, tokens, vocab)
        row = [tokens, vocab, med["ls@2T"] * 1e3]
        row += [med[c] / med["ls@2T"] for c in others]
        if mem:
            ref = mem["ls@2T"]
            row += [mem[c]["peak_bytes"] / ref["peak_bytes"] for c in others]
            ref_inc = ref["peak_bytes"] - ref["before_bytes"]
            row += [(mem[c]["peak_bytes"] - mem[c]["before_bytes"]) / ref_inc for c in others]
        rows.append(row)
    headers = ["T", "V", "ls@2T ms"] + [f"time {c}" for c in others]
    if not args.no_memory:
        headers += [f"peak {c}" for c in others] + [f"increase {c}" for c in others]
    print()
    print(markdown_table(headers, rows))
    print(
        f"\n(peak = {'CUDA max allocated' if device.type == 'cuda' else 'peak RSS of a child per config'};"
        f" increase = peak minus memory after model build)\ntotal wall time {time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    main()
