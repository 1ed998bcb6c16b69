"""The one reader of what fairseq prints: every pattern the recipes match against fairseq's
console output or log files lives here (errors, the console prefix, fairseq-train's stats lines,
fairseq-generate's and fairseq-eval-lm's results)."""

import datetime
import json
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

# how fairseq's argparse and the plugin report a usage error: one line, shown as ours
ERROR_LINE = re.compile(r"^[\w.-]+: error: ")
# the plugin's one-line error, argparse's, or the exception line that ends a traceback
FAILURE_LINE = re.compile(r"^(rdrop_fairseq: error:|[\w.]*(Error|Exception)\b|\w+\.py: error:)")


# fairseq-train's last line of a run that reached its end (fairseq_cli/train.py)
_DONE_TRAINING = re.compile(r"\bdone training in [\d.]+ seconds")


def finished_training(lines: Sequence[str]) -> bool:
    return any(_DONE_TRAINING.search(line) for line in lines)


def failure_line(lines: Sequence[str]) -> Optional[str]:
    """The last line that says why a fairseq command stopped."""
    return next((line.strip() for line in reversed(lines) if FAILURE_LINE.match(line)), None)


def last_line(lines: Sequence[str]) -> str:
    """The last line with something on it: where a failed fairseq command says why."""
    return next((line.strip() for line in reversed(lines) if line.strip()), "(no output)")


def misses_the_plugin(lines: Sequence[str], names: Sequence[str]) -> bool:
    """Did fairseq fail to build one of the plugin's ``names`` (task, criterion), or refuse to
    unpickle a checkpoint (torch >= 2.6 without the plugin's loader): no ``--user-dir``."""
    missing = any(
        name in line and ("KeyError" in line or "not found" in line) for line in lines for name in names
    )
    return missing or any("WeightsUnpickler error" in line for line in lines)


# the console prefix: "2024-01-01 12:00:00 | INFO | <tag> | "
CONSOLE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \| \w+ \| (\S+) \| (.*)$")
CONSOLE_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \| ")


def console_time(line: str) -> Optional[datetime.datetime]:
    match = CONSOLE_TIME.match(line)
    return datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S") if match else None


# fairseq-train, simple/tqdm: "epoch 001:      5 / 8 loss=13.458, ..." every --log-interval updates,
# "epoch 001 | valid on 'valid' subset | loss 4.976 | ..." per validation, and
# "epoch 001 | loss 12.526 | ..." at the end of an epoch
_INNER = re.compile(r"^epoch \d+:.*?(\w+=\S.*)$")
_INNER_PAIR = re.compile(r"(\w+)=([^,\s]+)")
_VALID = re.compile(r"^epoch \d+ \| valid on '([^']+)' subset \| (.*)$")
_EPOCH = re.compile(r"^epoch \d+ \| (.*)$")
_UPDATES = "num_updates"


@dataclass(frozen=True)
class Stats:
    """One stats line of fairseq-train: ``kind`` "train_inner", "train" (an epoch's summary) or
    "valid" (of the split ``subset``); ``metrics`` the numbers, ``num_updates`` an int."""

    kind: str
    subset: Optional[str]
    metrics: Dict[str, float]


def _numbers(pairs) -> Dict[str, float]:
    out = {}
    for key, value in pairs:
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            continue
    if _UPDATES in out:
        out[_UPDATES] = int(out[_UPDATES])
    return out


def _pipe_pairs(text: str) -> List[Tuple[str, str]]:
    chunks = (chunk.strip().partition(" ") for chunk in text.split(" | "))
    return [(key, value.strip()) for key, _, value in chunks if value]


def _json_stats(text: str, tag: Optional[str]) -> Optional[Stats]:
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return None  # fairseq also logs its config as a python dict
    if not isinstance(record, dict):
        return None
    if _UPDATES in record:  # train_inner (its "train_wall" is no prefix)
        return Stats("train_inner", None, _numbers(record.items())) if tag in (None, "train_inner") else None
    # an epoch's summary or a validation: every key carries the split, "valid_loss"
    for key in record:
        if key.endswith("_" + _UPDATES):
            split = key[: -len(_UPDATES) - 1]
            pairs = [(k[len(split) + 1 :], v) for k, v in record.items() if k.startswith(split + "_")]
            if split == "train":
                return Stats("train", None, _numbers(pairs))
            return Stats("valid", split, _numbers(pairs))
    return None


def read_stats(line: str) -> Optional[Stats]:
    """The stats of a fairseq-train log line (--log-format simple, tqdm or json, on the console or
    in --log-file without the prefix), or None for any other line."""
    line = line.rstrip("\n")
    tag = None
    match = CONSOLE.match(line)
    if match:
        tag, line = match.group(2), match.group(3)
    line = line.strip()
    if line.startswith("{") and line.endswith("}"):
        return _json_stats(line, tag)
    match = _VALID.match(line)
    if match:
        return Stats("valid", match.group(1), _numbers(_pipe_pairs(match.group(2))))
    match = _INNER.match(line)
    if match:
        return Stats("train_inner", None, _numbers(_INNER_PAIR.findall(match.group(1))))
    match = _EPOCH.match(line)
    if match and tag in (None, "train"):
        return Stats("train", None, _numbers(_pipe_pairs(match.group(1))))
    return None


# fairseq-generate: S-<id> \t <source>; T-<id> \t <reference>; H-<id> \t <score> \t <tokens>;
# D-<id> \t <score> \t <text> (the text after a score may be empty)
_GENERATED = re.compile(r"^([SHDT])-(\d+)\t(.*)$")
_LOADED = r"loaded ([\d,]+) examples from: .*[/\\]{subset}\."
_BLEU4 = re.compile(r"BLEU4 = ([\d.]+)")


def hypotheses_and_references(lines: Sequence[str], hypothesis: str = "H") -> Tuple[List[str], List[str]]:
    """(hypotheses, references) in corpus order (fairseq prints batch order): ``hypothesis`` "H"
    for the tokenized output, "D" for the detokenized one. ValueError where they do not pair up."""
    found: Dict[str, Dict[int, str]] = {hypothesis: {}, "T": {}}
    for line in lines:
        match = _GENERATED.match(line.rstrip("\n"))
        if match and match.group(1) in found:
            kind, text = match.group(1), match.group(3)
            if kind in "HD":
                text = text.partition("\t")[2]  # after the score
            found[kind][int(match.group(2))] = text
    hyps, refs = found[hypothesis], found["T"]
    if set(hyps) != set(refs):
        missing = sorted(set(hyps) ^ set(refs))[:5]
        raise ValueError(f"hypotheses and references do not pair up (ids {missing}...)")
    ids = sorted(hyps)
    return [hyps[i] for i in ids], [refs[i] for i in ids]


def subset_size(lines: Sequence[str], subset: str) -> Optional[int]:
    """Sentences in the split fairseq read, from its "loaded N examples from: .../test.x-y.x"."""
    pattern = re.compile(_LOADED.format(subset=re.escape(subset)))
    match = next(filter(None, map(pattern.search, lines)), None)
    return int(match.group(1).replace(",", "")) if match else None


def reported_bleu(lines: Sequence[str]) -> Optional[Tuple[str, float]]:
    """The last BLEU line of fairseq-generate ("Generate test with beam=5: BLEU4 = 12.34, ...",
    without the console prefix) and its score, or None."""
    reported = None
    for line in lines:
        match = _BLEU4.search(line)
        if match:
            reported = line.strip().split("| ")[-1], float(match.group(1))
    return reported


_EVAL_LM_RESULT = re.compile(r"Loss \(base 2\): ([-+0-9.eEinfa]+), Perplexity: ([-+0-9.eEinfa]+)")
_EVALUATED = re.compile(r"Evaluated ([\d,]+) tokens")


def read_eval_lm(lines: Sequence[str]) -> Optional[Tuple[float, float, int]]:
    """(loss base 2, perplexity, tokens scored) from fairseq-eval-lm's last result lines, or None."""
    text = "\n".join(lines)
    results, evaluated = _EVAL_LM_RESULT.findall(text), _EVALUATED.findall(text)
    if not (results and evaluated):
        return None
    return float(results[-1][0]), float(results[-1][1]), int(evaluated[-1].replace(",", ""))


# a json-format stats line after its tag, with or without the console prefix: "... | valid1 | {...}"
_TAGGED_JSON = re.compile(r"\| ([\w.-]+) \| (\{.*\})\s*$")


def reports_progress(line: str) -> bool:
    """A validation's or an epoch's stats line: what a follower of the console wants to see now."""
    return "| valid" in line or "| train |" in line


def read_validations(lines: Sequence[str], metric: str) -> List[Tuple[str, int, float]]:
    """[(subset, num_updates, value)] of every validation (valid, valid1, test: every subset but
    training's) of a json-format log that reports ``metric``."""
    found = []
    for line in lines:
        match = _TAGGED_JSON.search(line)
        stats = _json_stats(match.group(2), match.group(1)) if match else None
        if stats is not None and stats.kind == "valid" and metric in stats.metrics:
            found.append((stats.subset, int(stats.metrics.get(_UPDATES, 0)), stats.metrics[metric]))
    return found
