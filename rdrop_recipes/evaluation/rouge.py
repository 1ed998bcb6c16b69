"""ROUGE-1/2/L/Lsum F1 with rouge-score. The paper's numbers come from files2rouge (the perl
ROUGE-1.5.5 on Stanford-tokenized text), so absolute values differ a little."""

import re

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
