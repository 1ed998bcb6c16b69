"""BLEU the way the R-Drop paper reports it, from fairseq-generate output: tokenized BLEU
(sacrebleu with ``tokenize="none"``, what multi-bleu.perl / fairseq-score compute),
optionally with WMT14 En-De compound splitting, and detokenized sacreBLEU (Moses, 13a).
Is system B's BLEU different from baseline A's on the same test set? sacreBLEU's own paired
bootstrap and approximate randomization (``sacrebleu --paired-bs/--paired-ar``) on that
tokenized BLEU; seeded, so reproducible."""

import logging
import os
import re
from typing import List

from rdrop_recipes.fairseq_io.log_lines import hypotheses_and_references, reported_bleu, subset_size
from rdrop_recipes.folders.atomic_files import read_lines, write_lines
from rdrop_recipes.process.errors import RecipeError

# the match consumes the characters around the hyphen, as the usual one-line perl
# substitution does, so "a-b-c" keeps its second hyphen
_COMPOUND = re.compile(r"(\S)-(\S)")


def compound_split(line: str) -> str:
    return _COMPOUND.sub(r"\1 ##AT##-##AT## \2", line)


def bleu_report(hyps, refs, metric) -> dict:
    score = metric.corpus_score(hyps, [refs])
    return {
        "score": round(score.score, 2),
        "precisions": [round(p, 2) for p in score.precisions],
        "bp": round(score.bp, 4),
        "sys_len": score.sys_len,
        "ref_len": score.ref_len,
        "signature": str(metric.get_signature()),
        "text": str(score),
    }


def tokenized_metric(lowercase: bool):
    from sacrebleu.metrics import BLEU

    return BLEU(tokenize="none", lowercase=lowercase, force=True)


def tokenized_bleu(hyps, refs, lowercase=False) -> dict:
    return bleu_report(hyps, refs, tokenized_metric(lowercase))


def detokenize(lines, lang) -> List[str]:
    from sacremoses import MosesDetokenizer

    detok = MosesDetokenizer(lang=lang)
    return [detok.detokenize(line.split()) for line in lines]


def bleu_scores(cfg, lines, workdir) -> dict:
    """The BLEU of fairseq-generate's ``lines`` the config asks for; the texts go into ``workdir``."""
    from sacrebleu.metrics import BLEU

    recipe, gen = cfg["recipe"], cfg.get("generate", {})
    try:
        hyps, refs = hypotheses_and_references(lines, "H")
    except ValueError as err:
        raise RecipeError(f"cannot read fairseq-generate output: {err}") from None
    if not hyps:
        raise RecipeError(
            f"fairseq-generate printed no hypotheses; see {os.path.join(workdir, 'generate.log')}"
        )
    write_lines(os.path.join(workdir, "hypotheses.txt"), hyps)
    write_lines(os.path.join(workdir, "references.txt"), refs)
    lowercase = bool(recipe.get("lowercase", False))
    kind, scored_hyps, scored_refs = "tokenized BLEU", hyps, refs
    if recipe.get("compound_split"):
        kind += " with compound splitting"
        scored_hyps, scored_refs = [compound_split(h) for h in hyps], [compound_split(r) for r in refs]
        write_lines(os.path.join(workdir, "hypotheses.compound-split.txt"), scored_hyps)
        write_lines(os.path.join(workdir, "references.compound-split.txt"), scored_refs)
    bleu = tokenized_bleu(scored_hyps, scored_refs, lowercase)
    scores = {"sentences": len(hyps), "bleu": {**bleu, "kind": kind + (", lowercased" if lowercase else "")}}
    if recipe.get("sacrebleu"):
        lang = gen.get("target_lang") or "en"
        hyps_detok = detokenize(hyps, lang)
        if recipe.get("raw_reference"):
            with open(recipe["raw_reference"], encoding="utf-8") as f:
                refs_detok = [line.rstrip("\n") for line in f]
            if len(refs_detok) != len(hyps):
                raise RecipeError(f"raw_reference has {len(refs_detok)} lines, the test set {len(hyps)}")
            reference_kind = "raw reference file"
        else:
            refs_detok = detokenize(refs, lang)
            reference_kind = "detokenized T- lines"
        write_lines(os.path.join(workdir, "hypotheses.detok.txt"), hyps_detok)
        write_lines(os.path.join(workdir, "references.detok.txt"), refs_detok)
        # 13a, mixed case: the WMT convention
        scores["sacrebleu"] = {**bleu_report(hyps_detok, refs_detok, BLEU()), "reference": reference_kind}
    expected = subset_size(lines, gen.get("gen_subset", "test"))
    if expected is not None and expected != len(hyps):
        raise RecipeError(
            f"fairseq-generate translated {len(hyps)} of {expected} sentences, so BLEU would not be "
            "the test-set BLEU; keep required_batch_size_multiple = 1 (fairseq#5036) and do not skip inputs"
        )
    reported = reported_bleu(lines)
    if reported:
        scores["fairseq_reported"] = reported[0]
    return scores


def scored_texts(folder: str) -> List[List[str]]:
    """[hypotheses, references] of a results folder, as its scores.json's BLEU scored them."""
    split = os.path.isfile(os.path.join(folder, "hypotheses.compound-split.txt"))
    suffix = ".compound-split.txt" if split else ".txt"
    return [list(read_lines(os.path.join(folder, name + suffix))) for name in ("hypotheses", "references")]


def paired_p_values(baseline, system, references, lowercase, bootstrap_samples, ar_trials) -> dict:
    """{"baseline_bleu", "bleu", "p_bootstrap", "p_ar"} for ``system`` against ``baseline`` (lists of
    lines of one test set), and the two sample counts."""
    from sacrebleu.significance import PairedTest

    if not (len(baseline) == len(system) == len(references)):
        raise ValueError(
            f"paired test needs outputs of one test set: {len(baseline)} baseline, "
            f"{len(system)} system and {len(references)} reference lines"
        )
    # sacrebleu narrates each step at INFO on its own logger; the table says it all
    logging.getLogger("sacrebleu").setLevel(logging.WARNING)
    systems = [("baseline", baseline), ("system", system)]
    result = {}
    for kind, samples, key in (("bs", bootstrap_samples, "p_bootstrap"), ("ar", ar_trials, "p_ar")):
        metric = {"BLEU": tokenized_metric(lowercase)}
        _, scores = PairedTest(systems, metric, [references], test_type=kind, n_samples=samples)()
        base, other = scores["BLEU"]
        result.update(baseline_bleu=round(base.score, 2), bleu=round(other.score, 2))
        result[key] = float(other.p_value)
    return {**result, "bootstrap_samples": bootstrap_samples, "ar_trials": ar_trials}
