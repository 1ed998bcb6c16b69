"""Summaries of the CNN/DM test set with BART's inference settings and their
ROUGE-1/2/L F1 (``rouge-score``), into a fresh results folder.

    python -m rdrop_recipes.evaluate_cnndm --checkpoint checkpoints/cnndm-rdrop/checkpoint_best.pt
        [--data data-bin/cnn_dm-bin] [--bpe-dir gpt2_bpe] [--offline] [--results-dir results]
        [--name NAME] [--set key=value ...] [--device auto|cpu|cuda] [-- fairseq-generate flags]

fairseq-generate decodes with beam 4, length penalty 2.0, 55 to 140 tokens and
no repeated trigram (fairseq's examples/bart/summarize.py; ``[generate]`` of
configs/finetune-cnndm.toml), and turns hypotheses and references back into
text with the GPT-2 BPE (``--bpe gpt2``). ROUGE: rouge-score with the Porter
stemmer, F1 averaged over the test set with a 95% bootstrap interval; ROUGE-L
is the sentence-level LCS and ROUGE-Lsum the summary-level one (sentences
split at . ! ?). The paper's numbers come from files2rouge (the perl
ROUGE-1.5.5 on Stanford-tokenized text), so absolute values differ a little;
compare runs scored the same way.
"""

import argparse
import datetime
import os
import re
import sys
import time

from rdrop_recipes.config import recipe_config
from rdrop_recipes.config.command_line import parse_with_passthrough
from rdrop_recipes.fairseq_io.checkpoint_files import check_checkpoint
from rdrop_recipes.folders import results_dirs
from rdrop_recipes.folders.atomic_files import write_lines
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.process.exit import exits_cleanly
from rdrop_recipes.text import gpt2_bpe

from .evaluate import generate, subset_size

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
_OUTPUT = re.compile(r"^([DT])-(\d+)\t(.*)$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="evaluate-cnndm", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="fine-tuned BART checkpoint")
    parser.add_argument("--config", default=recipe_config.default_config_path("finetune-cnndm"))
    parser.add_argument("--data", help="binarized CNN/DM (default: the config's recipe.data)")
    gpt2_bpe.add_options(parser, "encoder.json and vocab.bpe for decoding")
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--name", help="results folder name (a timestamp is appended)")
    recipe_config.add_set_option(parser, "beam=6")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--cpu", dest="device", action="store_const", const="cpu", help="--device cpu")
    return parse_with_passthrough(parser, argv)


def read_summaries(lines):
    """(hypotheses, references) by sentence id, from D- (detokenized) and T- lines."""
    found = {"D": {}, "T": {}}
    for line in lines:
        match = _OUTPUT.match(line.rstrip("\n"))
        if match:
            kind, sid, rest = match.group(1), int(match.group(2)), match.group(3)
            # D-<id> \t <score> \t <text>; T-<id> \t <text>
            if kind == "D":
                rest = rest.split("\t", 1)[1] if "\t" in rest else ""
            found[kind][sid] = rest
    hyps, refs = found["D"], found["T"]
    if set(hyps) != set(refs):
        raise RecipeError("fairseq-generate output: hypotheses and references do not pair up")
    ids = sorted(hyps)
    return [hyps[i] for i in ids], [refs[i] for i in ids]


def rouge(hypotheses, references, seed=0):
    """F1 x 100 per ROUGE type: mean and 95% bootstrap interval (rouge-score's aggregator)."""
    import numpy as np
    from rouge_score import rouge_scorer, scoring

    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    aggregator = scoring.BootstrapAggregator()
    for hyp, ref in zip(hypotheses, references):
        # rougeLsum reads one sentence per line
        aggregator.add_scores(
            scorer.score(
                "\n".join(_SENTENCE_END.split(ref.strip())), "\n".join(_SENTENCE_END.split(hyp.strip()))
            )
        )
    np.random.seed(seed)  # the bootstrap draws from numpy's global generator
    result = aggregator.aggregate()
    return {
        name: {
            "f1": round(100 * result[name].mid.fmeasure, 2),
            "f1_95ci": [
                round(100 * result[name].low.fmeasure, 2),
                round(100 * result[name].high.fmeasure, 2),
            ],
        }
        for name in ROUGE_TYPES
    }


@exits_cleanly("evaluate-cnndm")
def main(argv=None):
    args = parse_args(argv)
    cfg = recipe_config.load(args.config)
    cfg = {"recipe": dict(cfg.get("recipe", {})), "generate": dict(cfg.get("generate", {}))}
    cfg = recipe_config.apply_overrides(cfg, args.assignments, ("generate",))
    recipe, gen = cfg["recipe"], cfg["generate"]
    if args.data:
        recipe["data"] = args.data
    if args.device:
        recipe["device"] = args.device
    subset = gen.get("gen_subset", "test")
    if not os.path.isfile(os.path.join(recipe["data"], f"{subset}.source-target.source.bin")):
        raise RecipeError(
            f"{recipe['data']} holds no binarized {subset} split; run scripts/prepare-cnndm.sh or pass --data"
        )
    check_checkpoint(args.checkpoint)
    bpe = gpt2_bpe.ensure_files(args.bpe_dir, args.offline)
    gen.update(
        source_lang="source",
        target_lang="target",
        bpe="gpt2",
        gpt2_encoder_json=bpe["encoder.json"],
        gpt2_vocab_bpe=bpe["vocab.bpe"],
    )
    name = args.name or os.path.basename(os.path.dirname(os.path.abspath(args.checkpoint))) or "cnndm"
    partial, stamp = results_dirs.start(args.results_dir, name, "evaluate-cnndm")
    started = time.time()
    command, lines = generate(cfg, args.checkpoint, partial, args.extra)
    hyps, refs = read_summaries(lines)
    if not hyps:
        raise RecipeError(
            f"fairseq-generate printed no summaries; see {os.path.join(partial, 'generate.log')}"
        )
    expected = subset_size(lines, subset)
    if expected is not None and expected != len(hyps):
        raise RecipeError(
            f"fairseq-generate summarized {len(hyps)} of {expected} articles, so ROUGE would not be the "
            f"{subset}-set ROUGE; keep --skip-invalid-size-inputs-valid-test off for generation"
        )
    write_lines(os.path.join(partial, "hypotheses.txt"), hyps)
    write_lines(os.path.join(partial, "references.txt"), refs)
    scores = rouge(hyps, refs)
    summary = {
        "name": name,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "checkpoint": os.path.abspath(args.checkpoint),
        "data": os.path.abspath(recipe["data"]),
        "subset": subset,
        "articles": len(hyps),
        "rouge": scores,
        "scorer": "rouge-score, Porter stemmer, F1 x 100, bootstrap 95% interval",
        "generate": {k: v for k, v in gen.items() if not k.startswith("gpt2_")},
        "command": " ".join(command),
        "seconds": round(time.time() - started, 1),
    }
    final = results_dirs.publish_scores(partial, args.results_dir, name, stamp, summary)
    r = {k: v["f1"] for k, v in scores.items()}
    print(
        f"evaluate-cnndm: ROUGE-1/2/L F1 {r['rouge1']}/{r['rouge2']}/{r['rougeL']} "
        f"(ROUGE-Lsum {r['rougeLsum']}) on {len(hyps)} articles",
        flush=True,
    )
    print(f"evaluate-cnndm: results in {final}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
