"""Summaries of a CNN/DM split by a fine-tuned BART checkpoint (``[generate]``: BART's
inference settings, ``--bpe gpt2``) and their ROUGE, into a fresh results folder."""

import datetime
import os
import time

from rdrop_recipes.config import recipe_config
from rdrop_recipes.evaluation.generation import generate
from rdrop_recipes.evaluation.rouge import SCORER, rouge
from rdrop_recipes.fairseq_io.checkpoint_files import check_checkpoint
from rdrop_recipes.fairseq_io.log_lines import hypotheses_and_references, subset_size
from rdrop_recipes.folders import results_dirs
from rdrop_recipes.folders.atomic_files import write_lines
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.text import gpt2_bpe


def summarization_config(config_path, assignments, data=None, device=None):
    """[recipe] and [generate] of the fine-tuning config with ``--set`` applied."""
    cfg = recipe_config.load(config_path)
    cfg = {"recipe": dict(cfg.get("recipe", {})), "generate": dict(cfg.get("generate", {}))}
    cfg = recipe_config.apply_overrides(cfg, assignments, ("generate",))
    if data:
        cfg["recipe"]["data"] = data
    if device:
        cfg["recipe"]["device"] = device
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
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
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
