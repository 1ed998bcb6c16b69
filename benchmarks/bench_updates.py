"""Full fairseq training updates: R-Drop against the doubled batch it replaces.

Configurations (same model, same fabricated sentences, T target tokens):

* ``ls@T``, ``ls@2T``: plain ``label_smoothed_cross_entropy``; ``ls@2T`` (the
  doubled batch) is what every ratio is taken against, because R-Drop's one
  forward over [x; x] does the doubled batch's work plus the KL term;
* ``rdrop@T``: ours (``--task rdrop_translation --criterion
  reg_label_smoothed_cross_entropy --reg-alpha 5``, fused loss head);
* ``fairseq-builtin@T``: ``label_smoothed_cross_entropy_with_rdrop --rdrop-alpha 5``;
* ``official@T``: the paper's formula, written out (``loss_formulas.py``);
* variants (vs ``rdrop@T``): ``--reg-passes 3``; ``--reg-dropouts 0.1,0.3``;
* with ``--with-reference``: ours with ``--reg-loss-impl reference``.

    python benchmarks/bench_updates.py            # CPU, small transformer, T=1024
    python benchmarks/bench_updates.py --quick
    python benchmarks/bench_updates.py --device cuda --dtype fp16 --preset iwslt
    python benchmarks/bench_updates.py --device cuda --dtype bf16 --preset wmt-big

Time: every configuration lives in this process and updates are interleaved
round-robin, medians reported. Peak memory: one child process per
configuration (CPU: its peak RSS; CUDA: its max_memory_allocated), so no
configuration's peak can leak into another's number.
"""

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fairseq_setup as fs  # noqa: E402
from common import (  # noqa: E402
    MIB,
    current_rss_bytes,
    emit_child_result,
    machine_line,
    markdown_table,
    median,
    peak_rss_bytes,
    round_robin,
    run_child,
    start,
)

MAIN = ["ls@T", "ls@2T", "rdrop@T", "fairseq-builtin@T", "official@T"]
VARIANTS = ["rdrop-passes3@T", "rdrop-dropouts0.1,0.3@T"]
REFERENCE = "ls@2T"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    fs.add_model_options(p)
    p.add_argument("--tokens", type=int, default=None, help="T: target tokens per batch")
    p.add_argument("--vocab", type=int, default=None)
    p.add_argument("--sent-len", type=int, default=None)
    p.add_argument("--configs", nargs="+", default=None, help=f"subset of {list(fs.CONFIGS)}")
    p.add_argument("--no-variants", action="store_true")
    p.add_argument("--with-reference", action="store_true")
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--per-round", type=int, default=1, help="consecutive updates per config per round")
    p.add_argument("--mem-updates", type=int, default=3, help="updates run by each memory child")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument(
        "--memory-jobs",
        type=int,
        default=1,
        help="memory children run at a time (each measures its own process, so on a GPU with "
        "room for them all the numbers do not change; scripts/gpu-check.sh runs them side by side)",
    )
    p.add_argument("--quick", action="store_true")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    cuda = fs.model_defaults(args)
    arch, vocab, tokens, sent_len = fs.PRESETS[args.preset]
    args.arch = arch
    args.vocab = args.vocab or vocab
    args.sent_len = args.sent_len or sent_len
    args.tokens = args.tokens or (256 if args.quick else tokens)
    if args.rounds is None:
        args.rounds = 3 if args.quick else (30 if cuda else 12)
    if args.warmup is None:
        args.warmup = 1 if not cuda else 5
    if args.configs is None:
        args.configs = list(MAIN)
        if not args.no_variants:
            args.configs += VARIANTS
        if args.with_reference:
            args.configs.insert(3, "rdrop-reference@T")
    if REFERENCE not in args.configs:
        args.configs.insert(0, REFERENCE)
    return args


def build(args, name):
    return fs.build(
        name, args.arch, args.vocab, args.tokens, args.sent_len, device=args.device, dtype=args.dtype
    )


def child_memory(args):
    """Peak memory of one configuration, alone in this process."""
    if args.threads:
        torch.set_num_threads(args.threads)
    setup = build(args, args.child)
    device = setup.device
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        before = current_rss_bytes()
    for _ in range(args.mem_updates):
        setup.update()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
    else:
        peak = peak_rss_bytes()
    emit_child_result({"peak_bytes": peak, "before_bytes": before})


def peak_memory_per_config(args, tokens, vocab):
    """Each configuration's peak in a fresh process, so no run inherits another's high-water mark."""
    children = {}
    for name in args.configs:
        child = [
            "benchmarks/bench_updates.py",
            "--child",
            name,
            "--device",
            args.device,
            "--dtype",
            args.dtype,
            "--preset",
            args.preset,
            "--tokens",
            str(tokens),
            "--vocab",
            str(vocab),
            "--sent-len",
            str(args.sent_len),
            "--mem-updates",
            str(args.mem_updates),
        ]
        if args.threads:
            child += ["--threads", str(args.threads)]
        children[name] = child
    print(f"  memory: {', '.join(children)} ({args.memory_jobs} at a time)", file=sys.stderr, flush=True)
    with ThreadPoolExecutor(max(1, args.memory_jobs)) as pool:
        return dict(zip(children, pool.map(run_child, children.values())))


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        return child_memory(args)
    device = start(args)
    print(
        f"# fairseq training updates: preset {args.preset} ({' '.join(args.arch)}), V={args.vocab}, "
        f"T={args.tokens} target tokens ({args.sent_len}-token sentences), {args.dtype}, "
        f"adam, dropout 0.3, alpha 5, label smoothing 0.1",
        flush=True,
    )
    print(f"# machine: {machine_line(device)}", flush=True)
    t_start = time.perf_counter()
    setups = {name: build(args, name) for name in args.configs}
    runners = {name: setups[name].update for name in args.configs}
    times = round_robin(runners, device, args.warmup, args.rounds, args.per_round)
    del setups, runners
    if device.type == "cuda":
        torch.cuda.empty_cache()

    mem = {} if args.no_memory else peak_memory_per_config(args, args.tokens, args.vocab)

    med = {name: median(v) for name, v in times.items()}
    ref_t = med[REFERENCE]
    rows = []
    for name in args.configs:
        _, _, mult = fs.CONFIGS[name]
        tokens = args.tokens // args.sent_len * args.sent_len * mult
        row = [
            name,
            tokens,
            med[name] * 1e3,
            tokens / med[name],
            med[name] / ref_t,
            min(times[name]) / min(times[REFERENCE]),
        ]
        if mem:
            peak = mem[name]["peak_bytes"]
            delta = peak - mem[name]["before_bytes"]
            ref_peak = mem[REFERENCE]["peak_bytes"]
            ref_delta = ref_peak - mem[REFERENCE]["before_bytes"]
            row += [peak / MIB, peak / ref_peak, delta / MIB, delta / ref_delta]
        else:
            row += [float("nan")] * 4
        rows.append(row)
    mem_kind = "CUDA max allocated" if device.type == "cuda" else "peak RSS"
    headers = [
        "config",
        "target tokens/update",
        "ms/update (median)",
        "target tokens/s",
        "time / ls@2T",
        "(same, ratio of minima)",
        f"{mem_kind} MiB",
        "peak / ls@2T",
        "training increase MiB",
        "increase / ls@2T",
    ]
    print()
    print(markdown_table(headers, rows))
    print(
        f"\n(training increase = peak minus {'allocated' if device.type == 'cuda' else 'RSS'} "
        f"after the model was built, i.e. activations, gradients, Adam state, loss head)"
    )

    if "rdrop@T" in med:
        limit = 1.03 if device.type == "cuda" else 1.05
        t_ratio = med["rdrop@T"] / ref_t
        summary = [
            [
                "R-Drop update time / doubled batch",
                t_ratio,
                f"<= {limit}",
                "met" if t_ratio <= limit else "MISSED",
            ]
        ]
        best = min(times["rdrop@T"]) / min(times[REFERENCE])
        summary.append(
            [
                "  same, ratio of fastest updates (least disturbed)",
                best,
                f"<= {limit}",
                "met" if best <= limit else "MISSED",
            ]
        )
        if mem:
            m_ratio = mem["rdrop@T"]["peak_bytes"] / mem[REFERENCE]["peak_bytes"]
            d_ratio = (mem["rdrop@T"]["peak_bytes"] - mem["rdrop@T"]["before_bytes"]) / (
                mem[REFERENCE]["peak_bytes"] - mem[REFERENCE]["before_bytes"]
            )
            summary.append(
                [
                    "R-Drop peak memory / doubled batch",
                    m_ratio,
                    "<= 1.05",
                    "met" if m_ratio <= 1.05 else "MISSED",
                ]
            )
            summary.append(
                [
                    "  same, training increase only",
                    d_ratio,
                    "(stricter view)",
                    "met" if d_ratio <= 1.05 else "above",
                ]
            )
        for other in ("fairseq-builtin@T", "official@T"):
            if other in med:
                summary.append([f"{other} time / R-Drop time", med[other] / med["rdrop@T"], "", ""])
        print()
        print(markdown_table(["target", "measured", "limit", "status"], summary))
        variant_rows = [[v, med[v] / med["rdrop@T"]] for v in VARIANTS if v in med]
        if variant_rows:
            print()
            print(markdown_table(["variant", "update time / default R-Drop (rdrop@T)"], variant_rows))
    spread = {n: (min(v) * 1e3, max(v) * 1e3, len(v)) for n, v in times.items()}
    print(
        "\nraw spread (min/max ms, samples): "
        + "; ".join(f"{n} {a:.0f}/{b:.0f} ({c})" for n, (a, b, c) in spread.items())
    )
    print(f"total wall time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
