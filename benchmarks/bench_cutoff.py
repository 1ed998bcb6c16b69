"""Update cost of R-Drop + Cutoff: each --reg-cutoff-type against default R-Drop.

All configurations are the same fairseq training update (``fairseq_setup``:
``Trainer.train_step`` on one fabricated batch) of ``--criterion
reg_label_smoothed_cross_entropy --reg-alpha 5``, with and without
``--reg-cutoff-type token|span|dimension --reg-cutoff-rate 0.05``. They live in
this one process and run interleaved round-robin, so the ratios compare
numbers of the same minutes. Target: every type <= 1.02x default R-Drop.

Whole-update ratios wobble by a few percent either way, more than cutoff can
cost, even between two identical R-Drop setups (the A/A control row), so the
script also times the work cutoff adds, on
its own and on the same shapes: drawing the mask, zeroing the entries, and the
backward of that zeroing. That time over the R-Drop update time bounds the
overhead (the hook's Python call is included).

    python benchmarks/bench_cutoff.py                     # CPU, small transformer, T=1024
    python benchmarks/bench_cutoff.py --quick
    python benchmarks/bench_cutoff.py --device cuda --dtype fp16 --preset iwslt
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fairseq_setup as fs  # noqa: E402
import torch  # noqa: E402
from common import machine_line, markdown_table, median, round_robin, start  # noqa: E402

from rdrop_fairseq.cutoff import apply_cutoff, draw_cutoff  # noqa: E402

TYPES = ("token", "span", "dimension")
TARGET = 1.02
BASE = "rdrop"
CONTROL = "rdrop (2nd instance)"
SIMCUT = "simcut (token, decoder too)"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    fs.add_model_options(p)
    p.add_argument("--tokens", type=int, default=None, help="T: target tokens per batch")
    p.add_argument("--rate", type=float, default=0.05, help="--reg-cutoff-rate (0.05: SimCut, Cutoff NMT)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--per-round", type=int, default=2, help="consecutive updates per config per round")
    p.add_argument("--work-rounds", type=int, default=200, help="timings of the cutoff work alone")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    cuda = fs.model_defaults(args)
    if args.rounds is None:
        args.rounds = 3 if args.quick else (30 if cuda else 15)
    return args


def main(argv=None):
    args = parse_args(argv)
    device = start(args)
    arch, vocab, tokens, sent_len = fs.PRESETS[args.preset]
    tokens = args.tokens or (256 if args.quick else tokens)
    print(
        f"# R-Drop + Cutoff update cost: preset {args.preset} ({' '.join(arch)}), V={vocab}, T={tokens} "
        f"target tokens ({sent_len}-token sentences), {args.dtype}, alpha 5, dropout 0.3, cutoff rate {args.rate}",
        flush=True,
    )
    print(f"# machine: {machine_line(device)}", flush=True)
    t0 = time.perf_counter()
    flags = {BASE: []}
    flags.update({t: ["--reg-cutoff-type", t, "--reg-cutoff-rate", str(args.rate)] for t in TYPES})
    # SimCut: token cutoff of both inputs of the cut copy, NLL on the clean copy only
    flags[SIMCUT] = flags["token"] + ["--reg-cutoff-decoder", "--reg-task-loss", "first-copy"]
    flags[SIMCUT] += ["--reg-kl-direction", "unidirectional", "--reg-alpha", "3"]
    # A/A control: a second, identical R-Drop setup. Its ratio is what separate
    # model instances alone differ by (memory placement, allocator state).
    flags[CONTROL] = []
    setups = {
        name: fs.build(
            "rdrop@T", arch, vocab, tokens, sent_len, device=args.device, dtype=args.dtype, extra=extra
        )
        for name, extra in flags.items()
    }
    times = round_robin(
        {name: s.update for name, s in setups.items()}, device, args.warmup, args.rounds, args.per_round
    )
    med = {name: median(v) for name, v in times.items()}
    work = cutoff_work(setups[BASE], args, device)
    rows = []
    for name in flags:
        ratio = med[name] / med[BASE]
        best = min(times[name]) / min(times[BASE])
        added = work.get(name, 0.0)
        bound = 1 + added / med[BASE]
        rows.append(
            [
                name,
                med[name] * 1e3,
                ratio,
                best,
                added * 1e3,
                f"{bound:.4f}",
                "control" if name == CONTROL else ("met" if bound <= TARGET else "MISSED"),
            ]
        )
    print()
    headers = ["--reg-cutoff-type", "ms/update (median)", "time / R-Drop", "(ratio of minima)"]
    headers += ["cutoff work ms", "1 + work / R-Drop update", f"<= {TARGET}"]
    print(markdown_table(headers, rows))
    spread = "; ".join(f"{n} {min(v) * 1e3:.0f}/{max(v) * 1e3:.0f} ({len(v)})" for n, v in times.items())
    print(f"\nraw spread (min/max ms, samples): {spread}")
    print(f"total wall time {time.perf_counter() - t0:.0f} s")


def cutoff_work(setup, args, device):
    """Seconds per update of what cutoff adds, per configuration: the masks drawn
    for [x; x], the embedding outputs zeroed, and the backward of that zeroing
    (source only; SimCut: the source and the decoder input)."""
    model = setup.trainer.model
    dim = model.encoder.embed_tokens.embedding_dim
    dtype = next(model.parameters()).dtype

    def inputs(key):
        tokens = setup.batch["net_input"][key].to(device)
        tokens = torch.cat([tokens, tokens])
        embedded = torch.randn(*tokens.shape, dim, device=device, dtype=dtype, requires_grad=True)
        return tokens, embedded, torch.randn_like(embedded)

    source, decoder = inputs("src_tokens"), inputs("prev_output_tokens")

    def runner(kind, sides):
        def run():
            for tokens, embedded, grad in sides:
                cut = draw_cutoff(tokens, 1, args.rate, 2, kind, dim, (0, 2))
                apply_cutoff(embedded, cut).backward(grad)
                embedded.grad = None

        return run

    runners = {t: runner(t, [source]) for t in TYPES}
    runners[SIMCUT] = runner("token", [source, decoder])
    times = round_robin(runners, device, 5, args.work_rounds, log=False)
    return {t: median(v) for t, v in times.items()}


if __name__ == "__main__":
    main()
