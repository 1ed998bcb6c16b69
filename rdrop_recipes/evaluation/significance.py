"""Is system B's BLEU different from baseline A's on the same test set?

Both tests are sacreBLEU's own (``sacrebleu.significance.PairedTest``, what
``sacrebleu --paired-bs`` / ``--paired-ar`` run), scored with the BLEU the
evaluation recipe reports (tokenized text, ``tokenize="none"``), so the
p-value speaks about the number in the table:

* paired bootstrap resampling (Koehn, 2004): resample the test sentences with
  replacement, count how often B fails to beat A;
* approximate randomization (Riezler & Maxwell, 2005): swap A's and B's
  output sentence by sentence at random, count how often the BLEU difference
  is at least the observed one.

sacreBLEU seeds its generator (``SACREBLEU_SEED``, default 12345), so a
p-value is reproducible.
"""

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
    result = {}
    for kind, samples, key in (("bs", bootstrap_samples, "p_bootstrap"), ("ar", ar_trials, "p_ar")):
        metric = BLEU(tokenize="none", lowercase=lowercase, force=True)
        test = PairedTest(
            [("baseline", list(baseline)), ("system", list(system))],
            {"BLEU": metric},
            [list(references)],
            test_type=kind,
            n_samples=samples,
        )
        _, scores = test()
        base, other = scores["BLEU"]
        result["baseline_bleu"] = round(base.score, 2)
        result["bleu"] = round(other.score, 2)
        result[key] = float(other.p_value)
    result["bootstrap_samples"] = bootstrap_samples
    result["ar_trials"] = ar_trials
    return result
