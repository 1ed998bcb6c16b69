"""Language-model perplexity (fairseq's) of a checkpoint with fairseq-eval-lm and the
config's ``[eval_lm]`` table, into a fresh results folder. fairseq-eval-lm silently skips
samples longer than the model's positions: a subset not scored whole is an error."""

import os
import shlex
import struct

from rdrop_recipes.config.recipe_config import passed_value
from rdrop_recipes.evaluation import evaluated_checkpoints
from rdrop_recipes.fairseq_io.checkpoint_files import checkpoint_strings
from rdrop_recipes.fairseq_io.log_lines import read_eval_lm
from rdrop_recipes.fairseq_io.preprocess import check_data_folder
from rdrop_recipes.process.errors import RecipeError

FLAG_TABLE = "eval_lm"
# fairseq's MMapIndexedDataset index: magic, version <Q, dtype <B, length <Q, then int32 sizes
INDEX_MAGIC = b"MMIDIDX\x00\x00"
INDEX_HEADER = struct.Struct("<9sQBQ")


def check_window(cfg, extra):
    """A window as long as the block leaves no new token to score (fairseq crashes or loops)."""
    # what fairseq-eval-lm gets: the flags after '--' win, then [eval_lm], then fairseq's defaults
    table = cfg.get(FLAG_TABLE, {})
    tokens = passed_value(extra, "--tokens-per-sample", table.get("tokens_per_sample", 1024))
    window = passed_value(extra, "--context-window", table.get("context_window", 0))
    try:
        tokens, window = int(tokens), int(window)
    except (TypeError, ValueError):
        raise RecipeError(
            f"tokens_per_sample {tokens!r} and context_window {window!r} must be integers; "
            "fix --set tokens_per_sample=N / --set context_window=N"
        ) from None
    if tokens < 1 or window < 0 or window >= tokens:
        raise RecipeError(
            f"context_window {window} with tokens_per_sample {tokens}: each block scores "
            "tokens_per_sample - context_window new tokens, so give 0 <= context_window < tokens_per_sample "
            f"(e.g. --set context_window={max(0, min(tokens - 1, tokens * 3 // 4))}; the model's READMEs use 400 of 512)"
        )


def check_language_model(path):
    """Refuse a checkpoint with an encoder, on which fairseq-eval-lm fails deep in its loader
    (its parameter names, read from the pickle without torch)."""
    if any(s.startswith("encoder.") for s in checkpoint_strings(path)):
        raise RecipeError(
            f"checkpoint {path!r} holds an encoder (a translation or fine-tuning model), not a language "
            "model; evaluate-lm scores checkpoints of scripts/train-wikitext103.sh: pass one with --checkpoint "
            "(scripts/evaluate.sh scores translation checkpoints)"
        )


def subset_tokens(data, subset):
    """Tokens in ``subset`` from its mmap index; None for another format (nothing checked)."""
    try:
        with open(os.path.join(data.split(os.pathsep)[0], f"{subset}.idx"), "rb") as handle:
            magic, _version, _dtype, length = INDEX_HEADER.unpack(handle.read(INDEX_HEADER.size))
            sizes = handle.read(4 * length)
    except (OSError, struct.error):
        return None
    if magic != INDEX_MAGIC or len(sizes) != 4 * length:
        return None
    return sum(struct.unpack(f"<{length}i", sizes))


def eval_lm(cfg, checkpoint, subset, workdir, extra):
    """(command, {perplexity, loss_base2, tokens}) of fairseq-eval-lm on one subset."""
    log_path = os.path.join(workdir, f"eval-lm.{subset}.log")
    command, lines = evaluated_checkpoints.run_on_checkpoint(
        cfg, FLAG_TABLE, checkpoint, ["--gen-subset", subset], extra, log_path, "evaluate-lm"
    )
    parsed = read_eval_lm(lines)
    if parsed is None:
        raise RecipeError(f"fairseq-eval-lm printed no perplexity; see {log_path}")
    loss, perplexity, evaluated = parsed
    expected = subset_tokens(cfg["recipe"]["data"], subset)
    if expected is not None and evaluated != expected:
        raise RecipeError(
            f"fairseq-eval-lm scored {evaluated:,} of the {expected:,} tokens of {subset!r} (it skips "
            "samples longer than the model's positions), so this is not the perplexity of the subset; "
            "use the [eval_lm] settings the model was trained for (tokens_per_sample, context_window, "
            f"sample_break_mode); log: {log_path}"
        )
    return command, {"perplexity": perplexity, "loss_base2": loss, "tokens": evaluated}


def resolve(args):
    cfg = evaluated_checkpoints.evaluation_config(args, FLAG_TABLE)
    if args.subsets:
        cfg["recipe"]["subsets"] = [s for s in args.subsets.split(",") if s]
    if not cfg["recipe"].get("subsets"):
        raise RecipeError("no subset to evaluate; pass --subsets valid,test")
    return cfg


def evaluate_perplexity(cfg, name, extra):
    """Every subset of [recipe] ``subsets`` scored; the finished results folder."""
    recipe = cfg["recipe"]
    subsets = list(recipe["subsets"])
    check_data_folder(recipe, subsets)
    check_window(cfg, extra)
    checkpoints = evaluated_checkpoints.checked_checkpoints(recipe)
    for path in checkpoints:
        check_language_model(path)

    def score(checkpoint, folder):
        commands, scores = {}, {}
        for subset in subsets:
            command, scores[subset] = eval_lm(cfg, checkpoint, subset, folder, extra)
            commands[subset] = shlex.join(command)
            print(f"evaluate-lm: {subset} perplexity {scores[subset]['perplexity']}", flush=True)
        return {
            FLAG_TABLE: cfg.get(FLAG_TABLE, {}),
            "commands": commands,
            "perplexity": {subset: scores[subset]["perplexity"] for subset in subsets},
            **scores,
        }

    return evaluated_checkpoints.scored_into_results(cfg, checkpoints, name, "evaluate-lm", score)
