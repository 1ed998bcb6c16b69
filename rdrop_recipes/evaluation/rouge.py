"""ROUGE-1/2/L/Lsum F1 with rouge-score: the Porter stemmer, F1 averaged over
the test set with a 95% bootstrap interval. ROUGE-L is the sentence-level LCS,
ROUGE-Lsum the summary-level one (sentences split at . ! ?). The paper's
numbers come from files2rouge (the perl ROUGE-1.5.5 on Stanford-tokenized
text), so absolute values differ a little; compare runs scored the same way."""

import re

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
SCORER = "rouge-score, Porter stemmer, F1 x 100, bootstrap 95% interval"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


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
