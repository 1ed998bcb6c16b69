"""R-Drop loss head alone: forward + backward over ``[2N, V]`` logits.

Compares the official formula, fairseq's built-in R-Drop criterion math, our
fused head and our autograd reference path, swept over N (target tokens per
copy) and V, for time and for memory beyond the logits and their gradient
(which every implementation needs, so they are the baseline, not the cost).

    python benchmarks/bench_loss_head.py                 # CPU: fp32 and bf16 logits
    python benchmarks/bench_loss_head.py --quick
    python benchmarks/bench_loss_head.py --device cuda --dtype fp16 bf16

Time: medians of interleaved repeats in this process. Extra memory: on CUDA
``max_memory_allocated`` minus (logits + gradient); on CPU a fresh child
process per (implementation, size) reports its peak RSS minus the peak it
had with the logits and a gradient-sized buffer already resident.
"""

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (  # noqa: E402
    DTYPES,
    MIB,
    emit_child_result,
    machine_line,
    markdown_table,
    median,
    peak_rss_bytes,
    quiet_fairseq_logging,
    round_robin,
    run_child,
    start,
)
from loss_formulas import IMPLS, LOSSES  # noqa: E402

PAD = 1
EPSILON = 0.1
ALPHA = 5.0
PAD_FRACTION = 0.05


def make_inputs(n, vocab, dtype, device, seed=0):
    gen = torch.Generator().manual_seed(seed)
    # drawn in place, in the final dtype: a temporary full-size copy here would
    # raise the child's RSS baseline and hide the head's own peak
    logits = torch.empty(2 * n, vocab, dtype=dtype).normal_(0.0, 2.0, generator=gen).to(device)
    target = torch.randint(4, vocab, (n,), generator=gen)
    target[torch.rand(n, generator=gen) < PAD_FRACTION] = PAD
    return logits.requires_grad_(True), target.to(device)


def step(impl, logits, target):
    logits.grad = None
    LOSSES[impl](logits, target, EPSILON, ALPHA, PAD).backward()


def child_memory(args):
    """One (impl, N, V, dtype) in a fresh process: peak RSS beyond logits+grad."""
    torch.set_num_threads(args.threads or torch.get_num_threads())
    device = torch.device("cpu")
    dtype = DTYPES[args.dtype[0]]
    # one tiny run first so kernel/thread-pool set-up is not counted as the head's
    small_logits, small_target = make_inputs(8, args.vocab[0], dtype, device, seed=1)
    step(args.child, small_logits, small_target)
    logits, target = make_inputs(args.n[0], args.vocab[0], dtype, device)
    grad_stand_in = torch.ones_like(logits)
    baseline = peak_rss_bytes()
    del grad_stand_in
    step(args.child, logits, target)
    emit_child_result({"extra_bytes": max(0, peak_rss_bytes() - baseline), "baseline_bytes": baseline})


def cuda_memory(impl, logits, target):
    device = logits.device
    logits.grad = None
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    baseline = torch.cuda.memory_allocated(device) + logits.numel() * logits.element_size()
    torch.cuda.reset_peak_memory_stats(device)
    step(impl, logits, target)
    torch.cuda.synchronize(device)
    extra = torch.cuda.max_memory_allocated(device) - baseline
    logits.grad = None
    return max(0, extra)


def exactness(logits, target):
    """Max |grad − reference grad| / max |reference grad| and loss rel. diff, per impl."""
    out = {}
    step("official", logits, target)
    ref_grad = logits.grad.float().clone()
    ref_loss = LOSSES["official"](logits, target, EPSILON, ALPHA, PAD).item()
    scale = ref_grad.abs().max().item()
    for impl in IMPLS:
        step(impl, logits, target)
        loss = LOSSES[impl](logits.detach(), target, EPSILON, ALPHA, PAD).item()
        out[impl] = (
            (logits.grad.float() - ref_grad).abs().max().item() / scale,
            abs(loss - ref_loss) / abs(ref_loss),
        )
    logits.grad = None
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--dtype",
        nargs="+",
        choices=sorted(DTYPES),
        default=None,
        help="logits dtype(s); default fp32 bf16 on CPU, fp16 bf16 on CUDA",
    )
    p.add_argument("--n", type=int, nargs="+", default=None, help="target tokens per copy")
    p.add_argument("--vocab", type=int, nargs="+", default=None)
    p.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS))
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per size and impl")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="small sweep, few repeats (smoke run)")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument(
        "--exactness-max-elements",
        type=int,
        default=1 << 26,
        help="check gradients against the official formula up to this many logits",
    )
    p.add_argument("--child", choices=IMPLS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    cuda = args.device.startswith("cuda")
    if args.dtype is None:
        args.dtype = ["fp16", "bf16"] if cuda else ["fp32", "bf16"]
    if args.n is None:
        args.n = [512, 1024] if args.quick else ([1024, 2048, 4096] if cuda else [1024, 4096])
    if args.vocab is None:
        args.vocab = [10000] if args.quick else ([10000, 32000, 40000] if cuda else [10000, 32000])
    if args.repeats is None:
        args.repeats = 3 if args.quick else (20 if cuda else 5)
    if args.warmup is None:
        args.warmup = 1 if args.quick else (5 if cuda else 1)
    return args


def main(argv=None):
    args = parse_args(argv)
    quiet_fairseq_logging()
    if args.child:
        return child_memory(args)
    device = start(args)
    print(
        f"# loss head: forward+backward over [2N, V] logits, alpha={ALPHA}, eps={EPSILON}, "
        f"{PAD_FRACTION:.0%} padding",
        flush=True,
    )
    print(f"# machine: {machine_line(device)}", flush=True)
    rows, worst = [], {}
    for dtype_name in args.dtype:
        for vocab in args.vocab:
            for n in args.n:
                # the largest CPU sizes get fewer repeats: each call is seconds there
                big = device.type == "cpu" and 2 * n * vocab > (1 << 27)
                repeats = max(2, args.repeats // 2) if big else args.repeats
                print(f"## {dtype_name} N={n} V={vocab} ({repeats} repeats)", file=sys.stderr, flush=True)
                logits, target = make_inputs(n, vocab, DTYPES[dtype_name], device)
                runners = {
                    impl: (lambda impl=impl, logits=logits, target=target: step(impl, logits, target))
                    for impl in args.impls
                }
                times = round_robin(runners, device, args.warmup, repeats)
                exact = {}
                if 2 * n * vocab <= args.exactness_max_elements:
                    exact = exactness(logits, target)
                mem = {}
                if not args.no_memory:
                    for impl in args.impls:
                        if device.type == "cuda":
                            mem[impl] = cuda_memory(impl, logits, target)
                        else:
                            child = [
                                "benchmarks/bench_loss_head.py",
                                "--child",
                                impl,
                                "--n",
                                str(n),
                                "--vocab",
                                str(vocab),
                                "--dtype",
                                dtype_name,
                            ]
                            if args.threads:
                                child += ["--threads", str(args.threads)]
                            mem[impl] = run_child(child)["extra_bytes"]
                del logits, target
                t = {impl: median(v) for impl, v in times.items()}
                for impl in args.impls:
                    row = [dtype_name, n, vocab, impl, t[impl] * 1e3]
                    row.append(t.get("official", float("nan")) / t[impl])
                    row.append(t.get("fairseq_builtin", float("nan")) / t[impl])
                    if mem:
                        row.append(mem[impl] / MIB)
                        row.append(mem[impl] / max(mem.get("official", float("nan")), 1))
                        row.append(mem[impl] / max(mem.get("fairseq_builtin", float("nan")), 1))
                    else:
                        row += [float("nan")] * 3
                    g, l = exact.get(impl, (float("nan"), float("nan")))
                    row += [f"{g:.1e}" if g == g else "n/a", f"{l:.1e}" if l == l else "n/a"]
                    rows.append(row)
                if "fused" in t:
                    for other in ("official", "fairseq_builtin"):
                        if other in t:
                            speed = t[other] / t["fused"]
                            memr = mem["fused"] / max(mem[other], 1) if mem else float("nan")
                            key = (dtype_name, other)
                            prev = worst.get(key, (float("inf"), 0.0))
                            worst[key] = (min(prev[0], speed), max(prev[1], memr))
    headers = [
        "logits",
        "N",
        "V",
        "impl",
        "ms (median)",
        "speed-up vs official",
        "speed-up vs builtin",
        "extra MiB",
        "mem / official",
        "mem / builtin",
        "grad err vs official",
        "loss err vs official",
    ]
    print()
    print(markdown_table(headers, rows))
    if worst:
        print()
        print("Targets for the fused head (worst over the sweep): >= 2x faster and <= 0.5x extra memory")
        summary = []
        for (dtype_name, other), (speed, memr) in worst.items():
            ok = speed >= 2.0 and (memr <= 0.5 or memr != memr)
            summary.append([dtype_name, other, speed, memr, "met" if ok else "MISSED"])
        print(markdown_table(["logits", "against", "min speed-up", "max mem ratio", "target"], summary))


if __name__ == "__main__":
    main()
