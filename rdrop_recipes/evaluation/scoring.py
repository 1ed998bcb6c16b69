"""BLEU the way the R-Drop paper reports it, from fairseq-generate output: tokenized BLEU
(sacrebleu with ``tokenize="none"``, what multi-bleu.perl / fairseq-score compute),
optionally with WMT14 En-De compound splitting, and detokenized sacreBLEU (Moses, 13a)."""

import os
import re
from typing import List

from rdrop_recipes.fairseq_io.log_lines import hypotheses_and_references, reported_bleu, subset_size
from rdrop_recipes.folders.atomic_files import write_lines
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


def tokenized_bleu(hyps, refs, lowercase=False) -> dict:
    from sacrebleu.metrics import BLEU

    return bleu_report(hyps, refs, BLEU(tokenize="none", lowercase=lowercase, force=True))


def detok_sacrebleu(hyps, refs) -> dict:
    from sacrebleu.metrics import BLEU

    return bleu_report(hyps, refs, BLEU())  # 13a, mixed case: the WMT convention


def detokenize(lines, lang) -> List[str]:
    from sacremoses import MosesDetokenizer

    detok = MosesDetokenizer(lang=lang)
    return [detok.detokenize(line.split()) for line in lines]


def bleu_scores(cfg, lines, workdir) -> dict:
    """The BLEU of fairseq-generate's ``lines`` the config asks for; the texts go into ``workdir``."""
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
        scores["sacrebleu"] = {**detok_sacrebleu(hyps_detok, refs_detok), "reference": reference_kind}
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
