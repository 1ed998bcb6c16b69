"""Is system B's BLEU different from baseline A's on the same test set? sacreBLEU's own
paired bootstrap and approximate randomization (``sacrebleu --paired-bs/--paired-ar``) on
the BLEU the evaluation reports (``tokenize="none"``); seeded, so reproducible."""

import logging
from typing import Dict, Sequence


def paired_p_values(
    baseline: Sequence[str],
    system: Sequence[str],
    references: Sequence[str],
    lowercase: bool = False,
    bootstrap_samples: int = 1000,
    ar_trials: int = 10000,
) -> Dict[str, float]:
    """{"baseline_bleu", "bleu", "p_bootstrap", "p_ar"} for ``system`` against ``baseline``."""
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import PairedTest

    if not (len(baseline) == len(system) == len(references)):
        raise ValueError(
            f"paired test needs outputs of one test set: {len(baseline)} baseline, "
            f"{len(system)} system and {len(references)} reference lines"
        )
    # sacrebleu narrates each step at INFO on its own logger; the table says it all
    logging.getLogger("sacrebleu").setLevel(logging.WARNING)
    systems = [("baseline", list(baseline)), ("system", list(system))]
    result = {}
    for kind, samples, key in (("bs", bootstrap_samples, "p_bootstrap"), ("ar", ar_trials, "p_ar")):
        metric = {"BLEU": BLEU(tokenize="none", lowercase=lowercase, force=True)}
        _, scores = PairedTest(systems, metric, [list(references)], test_type=kind, n_samples=samples)()
        base, other = scores["BLEU"]
        result.update(baseline_bleu=round(base.score, 2), bleu=round(other.score, 2))
        result[key] = float(other.p_value)
    return {**result, "bootstrap_samples": bootstrap_samples, "ar_trials": ar_trials}
