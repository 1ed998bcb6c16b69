"""The perl/sed line steps of fairseq's ``prepare-*.sh`` in plain Python (no perl, no
mosesdecoder clone), pure so the tests can pin each rule on hand-made input; the Moses chain
and subword-nmt's ``apply_bpe.py`` as picklable line transforms for ``map_lines``."""

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

# sed's \s in the scripts' C/UTF-8 locale is ASCII whitespace only; Python's
# \s would also eat e.g. U+00A0 and change what reaches the tokenizer.
_ASCII_SPACE = "[ \t\n\r\f\v]"
_SEG_OPEN = re.compile(r'<seg id="[0-9]*">' + _ASCII_SPACE + "*")
_SEG_CLOSE = re.compile(_ASCII_SPACE + "*</seg>" + _ASCII_SPACE + "*")


def filter_train_lines(
    lines: Iterable[str], drop_markers: Sequence[str], tags: Sequence[str]
) -> Iterator[str]:
    """``grep -v`` of each marker, then ``sed s/<tag>//g`` of each tag (its content stays)."""
    for line in lines:
        if not any(marker in line for marker in drop_markers):
            for tag in tags:
                line = line.replace(tag, "")
            yield line


def extract_segments(lines: Iterable[str], apostrophe_fix: bool = True) -> Iterator[str]:
    """The text of every ``<seg id="N">`` line (IWSLT XML, WMT SGML), as the scripts'
    ``grep '<seg id' | sed``: whitespace hugging the tags dropped, U+2019 -> ``'``."""
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
    """clean-corpus-n.perl with ``-ratio``. Whitespace is collapsed first (the kept text is
    that form, as the perl prints it). Like the perl, ``|`` is deleted unless the first pair
    has one (a factored corpus); the tokenizer escapes ``|``, so this rarely fires."""

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
        if not all(self.min_tokens <= n <= self.max_tokens for n in (n_src, n_tgt)):
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
    """One side's Moses chain (punctuation, non-printing, tokenize, lowercase), picklable for
    workers to rebuild (sacremoses objects are costly to ship). ``escape``: tokenizer.perl
    without ``-no-escape`` (fairseq never passes it); ``aggressive_dash_splits``: its ``-a``."""

    lang: str
    normalize_punctuation: bool = False
    perl_parity: bool = True
    remove_non_printing: bool = False
    escape: bool = True
    aggressive_dash_splits: bool = False
    lowercase: bool = False

    def build(self):
        from sacremoses import MosesPunctNormalizer, MosesTokenizer

        normalize = MosesPunctNormalizer(lang=self.lang, perl_parity=self.perl_parity).normalize
        tokenizer = MosesTokenizer(lang=self.lang)

        def process(line: str) -> str:
            if self.normalize_punctuation:
                line = normalize(line)
            if self.remove_non_printing:
                line = remove_non_printing(line)
            line = tokenizer.tokenize(
                line, return_str=True, escape=self.escape, aggressive_dash_splits=self.aggressive_dash_splits
            )
            return line.lower() if self.lowercase else line

        return process


@dataclass(frozen=True)
class BpeApplier:
    """subword-nmt's ``apply_bpe.py -c code_path`` (``@@`` separator)."""

    code_path: str

    def build(self):
        from subword_nmt.apply_bpe import BPE

        with open(self.code_path, encoding="utf-8") as codes:
            return BPE(codes).process_line
