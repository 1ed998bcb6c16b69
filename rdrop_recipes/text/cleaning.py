"""Line-level text transforms of the Moses-era recipes, in plain Python.

Each function re-implements the behaviour of one perl/sed step that fairseq's
``prepare-*.sh`` scripts shell out to, so the recipes need no perl and no
clone of mosesdecoder. Everything here is pure (a line in, a line out, or a
pair in, a verdict out) so the tests can pin each rule on hand-made input.

``LineProcessor`` bundles the Moses steps of one side of a corpus into a
picklable recipe that worker processes rebuild (sacremoses objects hold
compiled regexes and are expensive to ship per chunk).
"""

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

# sed's \s in the scripts' C/UTF-8 locale is ASCII whitespace only; Python's
# \s would also eat e.g. U+00A0 and change what reaches the tokenizer.
_ASCII_SPACE = "[ \t\n\r\f\v]"
_SEG_OPEN = re.compile(r'<seg id="[0-9]*">' + _ASCII_SPACE + "*")
_SEG_CLOSE = re.compile(_ASCII_SPACE + "*</seg>" + _ASCII_SPACE + "*")


def keep_train_line(line: str, drop_markers: Sequence[str]) -> bool:
    """``grep -v`` of each marker: a line goes if it contains any of them anywhere."""
    return not any(marker in line for marker in drop_markers)


def strip_tags(line: str, tags: Sequence[str]) -> str:
    """``sed s/<tag>//g`` per tag: the tag text goes, its content stays a sentence."""
    for tag in tags:
        line = line.replace(tag, "")
    return line


def filter_train_lines(
    lines: Iterable[str], drop_markers: Sequence[str], tags: Sequence[str]
) -> Iterator[str]:
    for line in lines:
        if keep_train_line(line, drop_markers):
            yield strip_tags(line, tags)


def extract_segments(lines: Iterable[str], apostrophe_fix: bool = True) -> Iterator[str]:
    """The text of every ``<seg id="N">`` line of an IWSLT XML or WMT SGML file.

    Mirrors ``grep '<seg id' | sed`` of the scripts: other lines (``<doc>``,
    ``<title>``, ``<talkid>`` ...) are ignored, whitespace hugging the tags is
    dropped, and U+2019 becomes an ASCII apostrophe as their third sed does.
    """
    for line in lines:
        if "<seg id" not in line:
            continue
        text = _SEG_CLOSE.sub("", _SEG_OPEN.sub("", line))
        if apostrophe_fix:
            text = text.replace("\u2019", "'")
        yield text


def every_nth(lines: Iterable[str], n: int) -> Tuple[List[str], List[str]]:
    """(rest, picked): awk's ``NR % n == 0`` picks lines n, 2n, ... (1-based)."""
    rest, picked = [], []
    for number, line in enumerate(lines, start=1):
        (picked if number % n == 0 else rest).append(line)
    return rest, picked


def remove_non_printing(line: str) -> str:
    """remove-non-printing-char.perl: every \\p{C} character becomes a space."""
    if line.isprintable():  # no category C (nor Z) character: the common case, fast
        return line
    return "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in line)


@dataclass(frozen=True)
class CleanRule:
    """clean-corpus-n.perl with ``-ratio``: which sentence pairs survive.

    Whitespace is collapsed and trimmed first (and the kept text is that
    collapsed form, as the perl prints it). A pair goes if either side is
    empty, has fewer than ``min_tokens`` or more than ``max_tokens`` tokens,
    the token-count ratio exceeds ``ratio`` in either direction, or a token is
    longer than ``max_word_length`` characters. The perl also deletes ``|``
    unless the corpus looks factored (its first pair contains one); the
    tokenizer escapes ``|`` to ``&#124;`` so that rule is kept for fidelity
    but rarely fires.
    """

    ratio: float = 1.5
    min_tokens: int = 1
    max_tokens: int = 175
    max_word_length: int = 1000

    def normalise(self, line: str, factored: bool) -> str:
        if not factored:
            line = line.replace("|", "")
        return re.sub(r"\s+", " ", line).strip(" ")

    def keep(self, src: str, tgt: str) -> bool:
        if not src or not tgt:
            return False
        n_src, n_tgt = len(src.split(" ")), len(tgt.split(" "))
        if not (self.min_tokens <= n_src <= self.max_tokens):
            return False
        if not (self.min_tokens <= n_tgt <= self.max_tokens):
            return False
        if n_src / n_tgt > self.ratio or n_tgt / n_src > self.ratio:
            return False
        too_long = re.compile(r"[^\s|]{%d}" % (self.max_word_length + 1))
        return not (too_long.search(src) or too_long.search(tgt))

    def filter_pairs(self, pairs: Iterable[Tuple[str, str]]) -> Iterator[Tuple[str, str]]:
        factored: Optional[bool] = None
        for src, tgt in pairs:
            if factored is None:
                factored = "|" in src or "|" in tgt
            src, tgt = self.normalise(src, factored), self.normalise(tgt, factored)
            if self.keep(src, tgt):
                yield src, tgt


@dataclass(frozen=True)
class LineProcessor:
    """One side's Moses chain: normalise punctuation, drop non-printing
    characters, tokenize, lowercase, each switchable.

    ``escape=True`` is what ``tokenizer.perl`` does without ``-no-escape``
    (fairseq never passes it): ``'`` -> ``&apos;``, ``"`` -> ``&quot;`` ...
    ``aggressive_dash_splits`` is perl's ``-a`` (``foo-bar`` -> ``foo @-@ bar``).
    """

    lang: str
    normalize_punctuation: bool = False
    perl_parity: bool = True
    remove_non_printing: bool = False
    tokenize: bool = True
    escape: bool = True
    aggressive_dash_splits: bool = False
    lowercase: bool = False

    def build(self):
        steps = []
        if self.normalize_punctuation:
            from sacremoses import MosesPunctNormalizer

            normalizer = MosesPunctNormalizer(lang=self.lang, perl_parity=self.perl_parity)
            steps.append(normalizer.normalize)
        if self.remove_non_printing:
            steps.append(remove_non_printing)
        if self.tokenize:
            from sacremoses import MosesTokenizer

            tokenizer = MosesTokenizer(lang=self.lang)
            escape, aggressive = self.escape, self.aggressive_dash_splits

            def tokenize(line: str) -> str:
                return tokenizer.tokenize(
                    line, return_str=True, escape=escape, aggressive_dash_splits=aggressive
                )

            steps.append(tokenize)
        if self.lowercase:
            steps.append(str.lower)

        def process(line: str) -> str:
            for step in steps:
                line = step(line)
            return line

        return process
