"""Summaries of a CNN/DM split by a fine-tuned BART checkpoint (``[generate]``: BART's inference
settings, ``--bpe gpt2``) and their ROUGE-1/2/L/Lsum F1, into a fresh results folder. ROUGE is
rouge-score's, not the paper's files2rouge (README.md): absolute values differ a little."""

import os
import re
import time

from rdrop_recipes.config import recipe_config
from rdrop_recipes.evaluation.evaluated_checkpoints import generate
from rdrop_recipes.fairseq_io.checkpoint_files import check_checkpoint
from rdrop_recipes.fairseq_io.log_lines import hypotheses_and_references, subset_size
from rdrop_recipes.folders import results_dirs
from rdrop_recipes.folders.atomic_files import write_lines
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.text import gpt2_bpe

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
SCORER = "rouge-score, Porter stemmer, F1 x 100, bootstrap 95% interval"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _sentence_lines(text):
    return "\n".join(_SENTENCE_END.split(text.strip()))


def rouge(hypotheses, references, seed=0):
    """F1 x 100 per ROUGE type: mean and 95% bootstrap interval."""
    import numpy as np
    from rouge_score import rouge_scorer, scoring

    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    aggregator = scoring.BootstrapAggregator()
    for hyp, ref in zip(hypotheses, references):
        # rougeLsum reads one sentence per line
        aggregator.add_scores(scorer.score(_sentence_lines(ref), _sentence_lines(hyp)))
    np.random.seed(seed)  # the bootstrap draws from numpy's global generator
    result = aggregator.aggregate()
    # each AggregateScore is (low, mid, high)
    f1 = {name: [round(100 * score.fmeasure, 2) for score in result[name]] for name in ROUGE_TYPES}
    return {name: {"f1": mid, "f1_95ci": [low, high]} for name, (low, mid, high) in f1.items()}


def summarization_config(config_path, assignments, data=None, device=None):
    """[recipe] and [generate] of the fine-tuning config with ``--set`` applied."""
    cfg = recipe_config.load(config_path)
    cfg = {"recipe": dict(cfg.get("recipe", {})), "generate": dict(cfg.get("generate", {}))}
    cfg = recipe_config.apply_overrides(cfg, assignments, ("generate",))
    cfg["recipe"].update({key: value for key, value in (("data", data), ("device", device)) if value})
    return cfg


def read_summaries(lines):
    """(hypotheses, references) in corpus order, from D- (detokenized) and T- lines."""
    try:
        return hypotheses_and_references(lines, "D")
    except ValueError:
        raise RecipeError("fairseq-generate output: hypotheses and references do not pair up") from None


def evaluate_rouge(cfg, checkpoint, bpe_dir, offline, results_dir, name=None, extra=()):
    """Summarize the config's ``gen_subset`` and score ROUGE; the finished results folder."""
    recipe, gen = cfg["recipe"], cfg["generate"]
    subset = gen.get("gen_subset", "test")
    if not os.path.isfile(os.path.join(recipe["data"], f"{subset}.source-target.source.bin")):
        raise RecipeError(
            f"{recipe['data']} holds no binarized {subset} split; run scripts/prepare-cnndm.sh or pass --data"
        )
    check_checkpoint(checkpoint)
    bpe = gpt2_bpe.ensure_files(bpe_dir, offline)
    # fairseq 0.12's default of 8 leaves up to 7 articles out of a batch_size not a multiple
    # of it (fairseq#5036); the count is checked below, but then only after the whole run
    gen.setdefault("required_batch_size_multiple", 1)
    gen.update(
        source_lang="source",
        target_lang="target",
        bpe="gpt2",
        gpt2_encoder_json=bpe["encoder.json"],
        gpt2_vocab_bpe=bpe["vocab.bpe"],
    )
    name = name or os.path.basename(os.path.dirname(os.path.abspath(checkpoint))) or "cnndm"
    partial, stamp = results_dirs.start(results_dir, name, "evaluate-cnndm")
    started = time.time()
    command, lines = generate(cfg, checkpoint, partial, extra)
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
        "created": results_dirs.now(),
        "checkpoint": os.path.abspath(checkpoint),
        "data": os.path.abspath(recipe["data"]),
        "subset": subset,
        "articles": len(hyps),
        "rouge": scores,
        "scorer": SCORER,
        "generate": {k: v for k, v in gen.items() if not k.startswith("gpt2_")},
        "command": " ".join(command),
        "seconds": round(time.time() - started, 1),
    }
    final = results_dirs.publish_scores(partial, results_dir, name, stamp, summary)
    r = {k: v["f1"] for k, v in scores.items()}
    print(
        f"evaluate-cnndm: ROUGE-1/2/L F1 {r['rouge1']}/{r['rouge2']}/{r['rougeL']} "
        f"(ROUGE-Lsum {r['rougeLsum']}) on {len(hyps)} articles",
        flush=True,
    )
    print(f"evaluate-cnndm: results in {final}", flush=True)
    return final
