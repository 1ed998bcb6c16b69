"""BLEU the way the R-Drop paper reports it, from fairseq-generate output.

* ``read_generate_output``: hypotheses (H-) and references (T-) ordered by
  sentence id (fairseq prints them in batch order, not corpus order).
* tokenized BLEU: sacrebleu with ``tokenize="none"`` on the tokenized text,
  which is what multi-bleu.perl / fairseq-score compute (IWSLT, lowercased).
* compound splitting for WMT14 En-De: every hyphen between two non-spaces
  becomes `` ##AT##-##AT## ``, the convention of the Transformer papers'
  En-De numbers; the match consumes the characters around the hyphen, as the
  usual one-line perl substitution does, so "a-b-c" keeps its second hyphen.
* detokenized sacreBLEU: Moses detokenizer, then sacrebleu's default 13a
  tokenization, reported with its signature.
"""

import re
from typing import Dict, List, Tuple

_LINE = re.compile(r"^([HT])-(\d+)\t(.*)$")
_COMPOUND = re.compile(r"(\S)-(\S)")


def read_generate_output(lines) -> Tuple[List[str], List[str]]:
    hyps: Dict[int, str] = {}
    refs: Dict[int, str] = {}
    for line in lines:
        match = _LINE.match(line.rstrip("\n"))
        if not match:
            continue
        kind, sid, rest = match.group(1), int(match.group(2)), match.group(3)
        if kind == "H":
            # H-<id> \t <score> \t <text>; the text may be empty
            hyps[sid] = rest.split("\t", 1)[1] if "\t" in rest else ""
        else:
            refs[sid] = rest
    if set(hyps) != set(refs):
        missing = sorted(set(hyps) ^ set(refs))[:5]
        raise ValueError(f"hypotheses and references do not pair up (ids {missing}...)")
    ids = sorted(hyps)
    return [hyps[i] for i in ids], [refs[i] for i in ids]


def compound_split(line: str) -> str:
    return _COMPOUND.sub(r"\1 ##AT##-##AT## \2", line)


def bleu_report(score, metric) -> dict:
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

    metric = BLEU(tokenize="none", lowercase=lowercase, force=True)
    return bleu_report(metric.corpus_score(hyps, [refs]), metric)


def detokenize(lines, lang) -> List[str]:
    from sacremoses import MosesDetokenizer

    detok = MosesDetokenizer(lang=lang)
    return [detok.detokenize(line.split()) for line in lines]


def detok_sacrebleu(hyps_detok, refs_detok) -> dict:
    from sacrebleu.metrics import BLEU

    metric = BLEU()  # 13a, mixed case: the WMT convention
    return bleu_report(metric.corpus_score(hyps_detok, [refs_detok]), metric)
