"""Tiny stand-ins for the real release archives, in their exact layouts.

The recipes' tests must not download (nor read the shared data a user's
clone lacks), so these build ``de-en.tgz`` (IWSLT14) and the five WMT14
tarballs with the real member names, tag lines and XML/SGML framing, filled
with a few hundred German/English-like sentences that exercise every rule:
tag lines to drop, tags to strip, pairs the cleaner must reject, quotes and
apostrophes the tokenizer escapes, hyphenated compounds, control characters.
"""

import io
import os
import random
import tarfile
from typing import Dict, List, Tuple

DE_WORDS = [
    "das",
    "ist",
    "ein",
    "Haus",
    "wir",
    "haben",
    "die",
    "Welt",
    "gesehen",
    "und",
    "Kinder",
    "lernen",
    "schnell",
    "heute",
    "Wasser",
    "Energie",
    "nicht",
    "sehr",
    "große",
    "Idee",
]
EN_WORDS = [
    "the",
    "is",
    "a",
    "house",
    "we",
    "have",
    "world",
    "seen",
    "and",
    "children",
    "learn",
    "fast",
    "today",
    "water",
    "energy",
    "not",
    "very",
    "big",
    "idea",
    "it's",
]


def sentence_pair(rng: random.Random, index: int) -> Tuple[str, str]:
    """A pair the cleaner keeps unless ``index`` selects one of the bad shapes."""
    n = rng.randint(3, 12)
    de = " ".join(rng.choice(DE_WORDS) for _ in range(n))
    en = " ".join(rng.choice(EN_WORDS) for _ in range(n + rng.randint(-1, 1) if n > 3 else n))
    kind = index % 17
    if kind == 5:  # ratio far above 1.5: the cleaner drops it
        en = en + " " + " ".join(["more"] * (3 * n))
    elif kind == 9:  # too long (> 175 tokens) on both sides
        de = " ".join(["Wort"] * 180)
        en = " ".join(["word"] * 180)
    elif kind == 11:  # punctuation the tokenizer splits and escapes
        de = f'Er sagte: "{de}", nicht wahr?'
        en = f'He said: "{en}", didn\'t he?'
    elif kind == 13:  # hyphenated compound (split only by WMT's -a)
        de = f"Das E-Mail-Konto {de}."
        en = f"The e-mail account {en}."
    de, en = de[0].upper() + de[1:], en[0].upper() + en[1:]
    return de, en


def train_tags(pairs: List[Tuple[str, str]], talks: int) -> Tuple[List[str], List[str]]:
    """train.tags.de-en.{de,en}: per talk the header lines, then its sentences."""
    de, en = [], []
    per_talk = (len(pairs) + talks - 1) // talks
    for talk in range(talks):
        for side, lang in ((de, "de"), (en, "en")):
            side.append(f"<url>http://www.ted.com/talks/lang/{lang}/talk_{talk}.html</url>")
            side.append(f"<keywords>talks, science, idea{talk}</keywords>")
            side.append(f"<talkid>{talk + 1}</talkid>")
            side.append(f"<title>Talk {talk} {'Titel' if lang == 'de' else 'title'}</title>")
            side.append(
                f"<description>TED Talk {talk} {'Beschreibung' if lang == 'de' else 'description'}"
                f"</description>"
            )
        for d, e in pairs[talk * per_talk : (talk + 1) * per_talk]:
            de.append(d)
            en.append(e)
    return de, en


def iwslt_xml(set_id: str, lang: str, segments: List[str], ref: bool) -> str:
    kind = "refset" if ref else "srcset"
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<mteval>",
        f'<{kind} setid="{set_id}" srclang="german" trglang="english">',
        '<doc docid="535" genre="lectures">',
        "<url>http://www.ted.com/talks/david_gallo.html</url>",
        "<description>TED Talk Subtitles and Transcript: a description</description>",
        "<keywords>talks, oceans</keywords>",
        "<speaker>David Gallo</speaker>",
        "<talkid>535</talkid>",
        "<title>David Gallo on life in the deep oceans</title>",
    ]
    lines += [f'<seg id="{i}"> {text} </seg>' for i, text in enumerate(segments, start=1)]
    lines += ["</doc>", f"</{kind}>", "</mteval>"]
    return "\n".join(lines) + "\n"


IWSLT_TEST_SETS = [
    "IWSLT14.TED.dev2010",
    "IWSLT14.TEDX.dev2012",
    "IWSLT14.TED.tst2010",
    "IWSLT14.TED.tst2011",
    "IWSLT14.TED.tst2012",
]


def write_tgz(path: str, members: Dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def iwslt_members(train_pairs: int = 150, talks: int = 3, seed: int = 0) -> Dict[str, object]:
    """Member name -> text; also returns the raw material under ``_raw``."""
    rng = random.Random(seed)
    pairs = [sentence_pair(rng, i) for i in range(train_pairs)]
    de, en = train_tags(pairs, talks)
    members: Dict[str, object] = {
        "de-en/train.tags.de-en.de": "\n".join(de) + "\n",
        "de-en/train.tags.de-en.en": "\n".join(en) + "\n",
    }
    test_pairs = {}
    for k, name in enumerate(IWSLT_TEST_SETS):
        segs = [sentence_pair(rng, 1) for _ in range(3 + k)]
        segs[0] = ("Das ist Bill\u2019s Haus.", "That is Bill\u2019s house.")
        test_pairs[name] = segs
        members[f"de-en/{name}.de-en.de.xml"] = iwslt_xml(name, "de", [d for d, _ in segs], ref=False)
        members[f"de-en/{name}.de-en.en.xml"] = iwslt_xml(name, "en", [e for _, e in segs], ref=True)
    members["_raw"] = {"train": (de, en), "test": test_pairs}
    return members


def make_iwslt_archive(path: str, **kwargs) -> dict:
    members = iwslt_members(**kwargs)
    raw = members.pop("_raw")
    write_tgz(path, members)
    return raw


# -- WMT14 ------------------------------------------------------------------

WMT_FILES = {
    "europarl": "training-parallel-europarl-v7.tgz",
    "commoncrawl": "training-parallel-commoncrawl.tgz",
    "news_commentary": "training-parallel-nc-v9.tgz",
    "dev": "dev.tgz",
    "test": "test-full.tgz",
}


def sgm(set_id: str, lang: str, segments: List[str], ref: bool) -> str:
    head = (
        f'<refset trglang="{lang}" setid="{set_id}" srclang="any">'
        if ref
        else f'<srcset setid="{set_id}" srclang="any">'
    )
    sysid = 'sysid="ref" ' if ref else ""
    lines = [head, f'<doc {sysid}docid="1-news" genre="news" origlang="en">']
    lines += [f'<seg id="{i}">{text}</seg>' for i, text in enumerate(segments, start=1)]
    lines += ["</doc>", "</refset>" if ref else "</srcset>"]
    return "\n".join(lines) + "\n"


def wmt_archives(directory: str, per_corpus: int = 40, seed: int = 1) -> Dict[str, object]:
    """Write the five tarballs into ``directory``; return the raw sentences."""
    rng = random.Random(seed)
    os.makedirs(directory, exist_ok=True)
    corpora = {}
    for key, prefix, extra in (
        ("europarl", "training/europarl-v7.de-en", {}),
        ("commoncrawl", "commoncrawl.de-en", {"commoncrawl.fr-en.fr": "Bonjour\n"}),
        ("news_commentary", "training/news-commentary-v9.de-en", {}),
    ):
        pairs = [sentence_pair(rng, i) for i in range(per_corpus)]
        # normalize-punctuation and remove-non-printing-char must act on train
        pairs[1] = ("\u201eSo\u201c ist es \u2013 gut.", "\u201cSo\u201d it is \u2013 good.")
        pairs[2] = ("Ein\u0007 Test mit Steuerzeichen.", "A\u0007 test with control characters.")
        corpora[key] = pairs
        members = {
            f"{prefix}.de": "\n".join(d for d, _ in pairs) + "\n",
            f"{prefix}.en": "\n".join(e for _, e in pairs) + "\n",
            **extra,
        }
        write_tgz(os.path.join(directory, WMT_FILES[key]), members)
    valid = [sentence_pair(rng, 1) for _ in range(6)]
    test = [sentence_pair(rng, 1) for _ in range(7)]
    test[0] = ("Es ist Bill\u2019s Fußgänger-Ampel.", "It is Bill\u2019s pedestrian-light.")
    write_tgz(
        os.path.join(directory, WMT_FILES["dev"]),
        {
            "dev/newstest2013-src.en.sgm": sgm("newstest2013", "en", [e for _, e in valid], ref=False),
            "dev/newstest2013-ref.de.sgm": sgm("newstest2013", "de", [d for d, _ in valid], ref=True),
            "dev/newstest2013.en": "\n".join(e for _, e in valid) + "\n",
            "dev/newstest2013.de": "\n".join(d for d, _ in valid) + "\n",
        },
    )
    write_tgz(
        os.path.join(directory, WMT_FILES["test"]),
        {
            "test-full/newstest2014-deen-src.en.sgm": sgm(
                "newstest2014", "en", [e for _, e in test], ref=False
            ),
            "test-full/newstest2014-deen-ref.de.sgm": sgm(
                "newstest2014", "de", [d for d, _ in test], ref=True
            ),
            "test-full/newstest2014-deen-src.de.sgm": sgm(
                "newstest2014", "de", [d for d, _ in test], ref=False
            ),
        },
    )
    return {"train": corpora, "valid": valid, "test": test}


# -- WikiText-103 ------------------------------------------------------------------

WIKITEXT_SPLITS = ("train", "valid", "test")
WIKITEXT_EXTRA = ["<unk>", "@-@", "@,@", "@.@", ",", ".", "(", ")", "Zürich", "—", "1984"]


def wikitext_lines(rng: random.Random, articles: int) -> List[str]:
    """Lines as in ``wiki.*.tokens``: a leading space, `` = Title = `` headings,
    `` = = Section = = ``, paragraphs of space-separated tokens, blank lines of one space."""
    vocab = EN_WORDS + WIKITEXT_EXTRA
    lines = [" "]
    for article in range(articles):
        lines += [f" = Article {article} = ", " "]
        for section in range(2):
            lines += [f" = = Section {section} = = ", " "]
            for _ in range(2):
                words = [rng.choice(vocab) for _ in range(rng.randint(4, 30))]
                lines += [" " + " ".join(words) + " ", " "]
    return lines


def make_wikitext103_zip(
    path: str, articles: Tuple[int, int, int] = (40, 10, 10), seed: int = 0
) -> Dict[str, str]:
    """``wikitext-103-v1.zip`` in the release layout (``wikitext-103/wiki.<split>.tokens``,
    deflated); returns split -> the text written."""
    import zipfile

    rng = random.Random(seed)
    texts = {split: "\n".join(wikitext_lines(rng, n)) + "\n" for split, n in zip(WIKITEXT_SPLITS, articles)}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("wikitext-103/", "")
        for split, text in texts.items():
            archive.writestr(f"wikitext-103/wiki.{split}.tokens", text)
    return texts
