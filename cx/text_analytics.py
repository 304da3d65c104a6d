"""Text analytics of survey comments and ticket bodies, English and Vietnamese, computed offline.

Pure functions over one text at a time: :func:`detect_language` (vi / en / mixed / unknown), :func:`sentiment`
(negative / neutral / positive with a score in [-1, 1]), :func:`topics` (a declarative taxonomy, ``cx/topics.yaml``),
:func:`key_phrases` (RAKE) and :func:`mask_pii` (emails and phone numbers, order ids kept). :func:`analyse` runs them
all. Nothing here downloads anything: every model is data inside a package or committed beside this module.

- English sentiment: VADER (``vaderSentiment``, its lexicon ships in the wheel), which handles negation, intensifiers,
  "but", capitals and exclamation marks.
- Vietnamese sentiment: no package ships a Vietnamese sentiment model that works offline (underthesea downloads its
  model at run time), so ``cx/lexicons/vi_sentiment.yaml`` is the model, scored with VADER's rules: valences on its
  -4..+4 scale, negators flip (x -0.74), intensifiers scale, the clause after "nhưng" counts 1.5x and the one before
  0.5x, and exclamation marks add emphasis. Unaccented Vietnamese ("giao hang cham qua") is matched too.
- Emoji: ``cx/lexicons/emoji.yaml`` (VADER finds no sentiment in most emoji customers use: 😡, 👍, 👎, 💩).
- Mixed text: the raw valences of the English, Vietnamese and emoji parts are added and normalised as VADER does
  (x / sqrt(x² + 15)), so "Ship quá chậm, so disappointed" counts both halves.

Texts longer than :data:`MAX_TEXT_CHARS` are analysed on their first :data:`MAX_TEXT_CHARS` characters (a ticket
thread with quoted history says what matters first; the cost stays bounded); ``text_length`` keeps the full length.
"""

from __future__ import annotations

import importlib.util
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

MAX_TEXT_CHARS = 2000  # characters analysed per text; text_length reports the full length
NEUTRAL_BAND = 0.05  # |score| below this is neutral: VADER's published threshold
TOP_KEY_PHRASES = 3
TOPICS_FILE = Path(__file__).with_name("topics.yaml")
LEXICON_DIR = Path(__file__).with_name("lexicons")

Language = Literal["vi", "en", "mixed", "unknown"]
SentimentLabel = Literal["negative", "neutral", "positive"]

_NEGATION_SCALAR = -0.74  # VADER's N_SCALAR: "not good" is less bad than "bad" is bad
_NORMALISE_ALPHA = 15.0  # VADER's normalisation constant: score = x / sqrt(x² + alpha)
_EXCLAMATION_BOOST = 0.292  # VADER: per "!" up to four
_MIXED_MINORITY_SHARE = 0.15  # a text is mixed when its minority language has at least this share of the words

VI_LETTERS = frozenset(
    "ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
)  # letters that only Vietnamese (of the two) writes
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_TOKEN = re.compile(r"\w+", re.UNICODE)
_CLAUSE_BREAK = re.compile(r"[.,;:!?\n…]+")


def normalise(text: str | None) -> str:
    """The text as analysed: None -> "", Unicode NFC (one code point per Vietnamese letter), stripped, truncated."""
    if text is None:
        return ""
    return unicodedata.normalize("NFC", str(text)).strip()[:MAX_TEXT_CHARS]


def strip_diacritics(text: str) -> str:
    """'Giao hàng chậm' -> 'giao hang cham' (lower case; đ -> d)."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d"))
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def has_vietnamese_letters(word: str) -> bool:
    return not word.isascii() and any(ch in VI_LETTERS for ch in word.lower())


def _yake_english_stopwords_file() -> Path:
    """YAKE's English stop word list, found without importing YAKE (which imports networkx, numpy and segtok)."""
    spec = importlib.util.find_spec("yake")
    if spec is None or not spec.submodule_search_locations:
        raise LexiconError("the yake package (its English stop word list) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "core" / "StopwordsList" / "stopwords_en.txt"


@lru_cache(maxsize=1)
def _english_words() -> frozenset[str]:
    """English words: VADER's lexicon (7.5k sentiment words) plus YAKE's English stop words (both ship inside)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    words = {w for w in SentimentIntensityAnalyzer().lexicon if w.isalpha()}
    stop_file = _yake_english_stopwords_file()
    words |= {w.strip() for w in stop_file.read_text(encoding="utf-8", errors="ignore").split() if w.strip().isalpha()}
    lists = language_words()
    words |= lists["english_extra"]
    return frozenset(words - lists["vi_unaccented"] - lists["loanwords"] - {"a", "i"})


@lru_cache(maxsize=1)
def language_words() -> dict[str, frozenset[str]]:
    """The word lists of ``lexicons/languages.yaml``: vi_unaccented, loanwords, english_extra."""
    path = LEXICON_DIR / "languages.yaml"
    data = _load_yaml(path)
    lists = {}
    for key in ("vi_unaccented", "loanwords", "english_extra"):
        values = data.get(key)
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise LexiconError(f"{path}: {key}: a list of words is required")
        lists[key] = frozenset(v.lower() for v in values)
    return lists


def language_counts(text: str) -> tuple[int, int]:
    """(Vietnamese words, English words) in a text; loanwords and unknown words count for neither."""
    english = _english_words()
    vi_unaccented = language_words()["vi_unaccented"]
    vi = en = 0
    for word in _WORD.findall(text.lower()):
        if has_vietnamese_letters(word) or word in vi_unaccented:
            vi += 1
        elif word.isascii() and word in english:
            en += 1
    return vi, en


def detect_language(text: str | None) -> Language:
    """vi, en, mixed (both languages, the smaller at least 15% of the words) or unknown (no words we recognise:
    empty, emoji-only, digits, another language)."""
    vi, en = language_counts(normalise(text))
    if vi == 0 and en == 0:
        return "unknown"
    if vi and en and min(vi, en) / (vi + en) >= _MIXED_MINORITY_SHARE:
        return "mixed"
    return "vi" if vi >= en else "en"


# --- lexicons -------------------------------------------------------------------------------------------------


class LexiconError(ValueError):
    pass


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise LexiconError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise LexiconError(f"{path}: expected a mapping at the top level")
    return data


@dataclass(frozen=True)
class ViLexicon:
    """The Vietnamese sentiment rules: phrase -> valence, negators, intensifiers, contrast words, stop words."""

    valences: dict[str, float]
    unaccented: dict[str, float]  # unaccented phrase -> valence, only where unambiguous
    negators: frozenset[str]
    intensifiers: dict[str, float]
    post_intensifiers: dict[str, float]
    contrast: frozenset[str]
    stopwords: frozenset[str]
    longest: int  # syllables in the longest phrase

    @classmethod
    def from_file(cls, path: Path) -> ViLexicon:
        data = _load_yaml(path)
        valences: dict[str, float] = {}
        for phrase, value in (data.get("valences") or {}).items():
            if not isinstance(value, int | float) or not -4 <= value <= 4:
                raise LexiconError(f"{path}: valences.{phrase}: {value!r} is not a number in -4..4")
            valences[unicodedata.normalize("NFC", str(phrase).lower())] = float(value)
        # An unaccented form stands for its phrase only when it is not also the form of a phrase of the other sign,
        # and (one syllable) when it is not a common other word: "cho" is "chờ" (wait) but also "cho" (for).
        unaccented: dict[str, float] = {}
        clashes: set[str] = set()
        for phrase, value in valences.items():
            bare = strip_diacritics(phrase)
            if bare in unaccented and (unaccented[bare] > 0) != (value > 0):
                clashes.add(bare)
            unaccented.setdefault(bare, value)
        single_ok = set(data.get("unaccented_single_syllables") or [])
        unaccented = {
            k: v for k, v in unaccented.items() if k not in clashes and (" " in k or k in single_ok or k in valences)
        }
        phrases = [*valences, *(data.get("intensifiers") or {}), *(data.get("negators") or [])]
        return cls(
            valences=valences,
            unaccented=unaccented,
            negators=frozenset(data.get("negators") or []),
            intensifiers={str(k): float(v) for k, v in (data.get("intensifiers") or {}).items()},
            post_intensifiers={str(k): float(v) for k, v in (data.get("post_intensifiers") or {}).items()},
            contrast=frozenset(data.get("contrast") or []),
            stopwords=frozenset(data.get("stopwords") or []),
            longest=max(len(p.split()) for p in phrases),
        )


@lru_cache(maxsize=1)
def vi_lexicon() -> ViLexicon:
    return ViLexicon.from_file(LEXICON_DIR / "vi_sentiment.yaml")


@lru_cache(maxsize=1)
def emoji_valences() -> dict[str, float]:
    path = LEXICON_DIR / "emoji.yaml"
    data = _load_yaml(path).get("valences") or {}
    # longest first, so "❤️" (heart + variation selector) is counted before a bare "❤"
    return {str(k): float(v) for k, v in sorted(data.items(), key=lambda kv: -len(kv[0]))}


@lru_cache(maxsize=1)
def _vader() -> Any:
    """VADER with the customer-service valences of ``lexicons/en_cx.yaml`` laid over its own."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    path = LEXICON_DIR / "en_cx.yaml"
    for word, value in (_load_yaml(path).get("valences") or {}).items():
        if not isinstance(value, int | float) or not -4 <= value <= 4:
            raise LexiconError(f"{path}: valences.{word}: {value!r} is not a number in -4..4")
        analyzer.lexicon[str(word).lower()] = float(value)
    return analyzer


# --- sentiment ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sentiment:
    label: SentimentLabel
    score: float  # in [-1, 1]


def label_for(score: float, band: float = NEUTRAL_BAND) -> SentimentLabel:
    if score >= band:
        return "positive"
    if score <= -band:
        return "negative"
    return "neutral"


def emoji_valence(text: str) -> tuple[float, str]:
    """(raw valence of the emoji in text, the text without them). A repeated emoji adds less each time (sqrt)."""
    total = 0.0
    if text.isascii():  # every emoji is outside ASCII: most English texts stop here
        return total, text
    present = set(text)
    for symbol, value in emoji_valences().items():
        if symbol[0] not in present:
            continue
        count = text.count(symbol)
        if count:
            total += value * math.sqrt(count)
            text = text.replace(symbol, " ")
    return total, text


def _raw_from_compound(compound: float) -> float:
    """Invert VADER's normalisation (compound = x / sqrt(x² + 15)) to add its valence to the others."""
    c = max(-0.9999, min(0.9999, compound))
    return c * math.sqrt(_NORMALISE_ALPHA / (1 - c * c))


def english_valence(text: str, *, drop_vietnamese: bool = False) -> float:
    """Raw VADER valence; ``drop_vietnamese`` scores only the non-Vietnamese words of a mixed text (VADER's
    negation and "but" rules would otherwise read Vietnamese words as English ones)."""
    if drop_vietnamese:
        vi_unaccented = language_words()["vi_unaccented"]
        text = _WORD.sub(
            lambda m: "" if has_vietnamese_letters(m.group()) or m.group().lower() in vi_unaccented else m.group(), text
        )
    return _raw_from_compound(_vader().polarity_scores(text)["compound"]) if text.strip() else 0.0


def _clause_valence(tokens: list[str], lexicon: ViLexicon, *, unaccented: bool, skip: frozenset[str]) -> float:
    total, i = 0.0, 0
    while i < len(tokens):
        match = None
        for n in range(min(lexicon.longest, len(tokens) - i), 0, -1):
            phrase = " ".join(tokens[i : i + n])
            if phrase in skip:
                continue
            value = lexicon.valences.get(phrase)
            if value is None and unaccented and phrase.isascii():
                value = lexicon.unaccented.get(phrase)
            if value is not None:
                match = (n, value)
                break
        if match is None:
            i += 1
            continue
        n, value = match
        before = tokens[max(0, i - 3) : i]
        # a negator up to three syllables back ("không được tốt lắm"), unless the phrase holds one ("không hài lòng")
        if any(t in lexicon.negators for t in before) and not any(t in lexicon.negators for t in tokens[i : i + n]):
            value *= _NEGATION_SCALAR
        for back in (1, 2):
            if i - back >= 0:
                word = " ".join(tokens[i - back : i])
                value *= lexicon.intensifiers.get(word, 1.0)
        after = tokens[i + n : i + n + 2]
        for k in (1, 2):
            if len(after) >= k:
                value *= lexicon.post_intensifiers.get(" ".join(after[:k]), 1.0)
        total += value
        i += n
    return total


@lru_cache(maxsize=1)
def _vi_phrases_vader_scores() -> frozenset[str]:
    """Lexicon phrases that VADER scores too ("ok"): left to VADER in a mixed text."""
    return frozenset(w for w in vi_lexicon().valences if w.isascii() and w in _vader().lexicon)


def vietnamese_valence(text: str, *, unaccented: bool = False, skip_english: bool = False) -> float:
    """Raw valence of a Vietnamese text with the lexicon's rules (VADER's scale and rules, see module docstring).

    ``unaccented`` also matches phrases typed without diacritics; ``skip_english`` leaves English words that VADER
    scores (ok, recommend) to VADER in a mixed text."""
    lexicon = vi_lexicon()
    lowered = text.lower()
    skip = _vi_phrases_vader_scores() if skip_english else frozenset()
    # VADER's "but" rule: the clause after a contrast word counts 1.5x, everything before it 0.5x
    pieces: list[tuple[float, str]] = [(1.0, lowered)]
    for word in sorted(lexicon.contrast, key=len, reverse=True):
        found = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", lowered)
        if found:
            pieces = [(0.5, lowered[: found.start()]), (1.5, lowered[found.end() :])]
            break
    total = 0.0
    for weight, piece in pieces:
        for clause in _CLAUSE_BREAK.split(piece):
            tokens = _TOKEN.findall(clause)
            total += weight * _clause_valence(tokens, lexicon, unaccented=unaccented, skip=skip)
    if total:
        total += math.copysign(min(text.count("!"), 4) * _EXCLAMATION_BOOST, total)
    return total


def sentiment(text: str | None, language: Language | None = None) -> Sentiment:
    """Sentiment of one text; ``language`` as from :func:`detect_language` (computed when not given)."""
    clean = normalise(text)
    if not clean:
        return Sentiment("neutral", 0.0)
    language = language or detect_language(clean)
    raw, words = emoji_valence(clean)
    if language in ("en", "mixed", "unknown"):
        raw += english_valence(words, drop_vietnamese=language == "mixed")
    if language in ("vi", "mixed"):
        raw += vietnamese_valence(words, unaccented=True, skip_english=language == "mixed")
    score = raw / math.sqrt(raw * raw + _NORMALISE_ALPHA) if raw else 0.0
    score = round(max(-1.0, min(1.0, score)), 4)
    return Sentiment(label_for(score), score)


# --- topics ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    name: str
    label: str
    patterns: tuple[re.Pattern[str], ...]  # matched on the lower-cased text
    unaccented_patterns: tuple[re.Pattern[str], ...]  # Vietnamese phrases without diacritics, on the stripped text
    # Keyword regexes indexed by the word they start with: a text runs only the regexes whose first word it holds
    # (one set lookup per word of the text instead of ~300 regex scans; same answers, ~10x faster)
    _index: _KeywordIndex = field(init=False, repr=False, compare=False)
    _unaccented_index: _KeywordIndex = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", _KeywordIndex.of(self.patterns))
        object.__setattr__(self, "_unaccented_index", _KeywordIndex.of(self.unaccented_patterns))

    def mentioned_in(self, lowered: str, stripped: str) -> bool:
        """True when a keyword is in the lower-cased text or an unaccented phrase in its stripped form."""
        return self._index.search(lowered, _words(lowered)) or self._unaccented_index.search(stripped, _words(stripped))


def _words(text: str) -> frozenset[str]:
    return frozenset(_TOKEN.findall(text))


_KEYWORD_LEAD = r"(?<!\w)"


@dataclass(frozen=True)
class _KeywordIndex:
    by_first_word: dict[str, tuple[re.Pattern[str], ...]]  # keywords whose first word is a whole word of the text
    by_substring: tuple[tuple[str, re.Pattern[str]], ...]  # prefix keywords ("refund*") and any other pattern

    @classmethod
    def of(cls, patterns: Iterable[re.Pattern[str]]) -> _KeywordIndex:
        by_word: dict[str, list[re.Pattern[str]]] = {}
        by_substring: list[tuple[str, re.Pattern[str]]] = []
        for pattern in patterns:
            body = pattern.pattern[len(_KEYWORD_LEAD) :] if pattern.pattern.startswith(_KEYWORD_LEAD) else ""
            first = re.split(r"\\s\+|\\w\*|\(\?!", body)[0]
            word = re.sub(r"\\(.)", r"\1", first)
            lead = _TOKEN.match(word)
            if body[len(first) :].startswith(r"\w*") or not lead:
                by_substring.append((word if lead else "", pattern))  # "refund*": "refunded" holds "refund"
            else:
                # the pattern's first \w+ run is bounded on both sides, so it is one of the text's \w+ words
                by_word.setdefault(lead.group(), []).append(pattern)
        return cls({k: tuple(v) for k, v in by_word.items()}, tuple(by_substring))

    def search(self, text: str, words: frozenset[str]) -> bool:
        """True when a pattern matches ``text``; ``words`` are its \\w+ words (computed once for every topic)."""
        for word in words & self.by_first_word.keys():
            if any(p.search(text) for p in self.by_first_word[word]):
                return True
        return any(literal in text and p.search(text) for literal, p in self.by_substring)


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    prefix = keyword.endswith("*")
    words = keyword.rstrip("*").strip().lower().split()
    body = r"\s+".join(re.escape(w) for w in words)
    suffix = r"\w*" if prefix else ""
    return re.compile(rf"(?<!\w){body}{suffix}(?!\w)")


def load_topics(path: Path = TOPICS_FILE) -> tuple[Topic, ...]:
    """The topic taxonomy, validated: each topic needs a label and at least one keyword; errors name the field."""
    data = _load_yaml(path)
    entries = data.get("topics")
    if not isinstance(entries, dict) or not entries:
        raise LexiconError(f"{path}: 'topics' must be a mapping of topic name -> {{label, en, vi}}")
    topics = []
    for name, spec in entries.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("label"), str):
            raise LexiconError(f"{path}: topics.{name}.label: a text label is required")
        keywords: dict[str, list[str]] = {}
        for language in ("en", "vi"):
            values = spec.get(language) or []
            if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
                raise LexiconError(f"{path}: topics.{name}.{language}: a list of non-empty keywords is required")
            keywords[language] = [unicodedata.normalize("NFC", v) for v in values]
        if not keywords["en"] and not keywords["vi"]:
            raise LexiconError(f"{path}: topics.{name}: no keywords in en or vi")
        every = keywords["en"] + keywords["vi"]
        # unaccented forms of Vietnamese phrases of two or more syllables (one syllable is too ambiguous unaccented)
        bare = {strip_diacritics(v) for v in keywords["vi"] if has_vietnamese_letters(v) and len(v.split()) > 1}
        topics.append(
            Topic(
                name=str(name),
                label=spec["label"],
                patterns=tuple(_keyword_pattern(v) for v in every),
                unaccented_patterns=tuple(_keyword_pattern(v) for v in sorted(bare)),
            )
        )
    return tuple(topics)


@lru_cache(maxsize=1)
def _topics() -> tuple[Topic, ...]:
    return load_topics()


def topics(text: str | None, taxonomy: Iterable[Topic] | None = None) -> list[str]:
    """Names of the topics a text mentions, in taxonomy order (English and Vietnamese keywords both apply: customers
    write "refund" and "ship" in Vietnamese sentences)."""
    clean = normalise(text).lower()
    if not clean:
        return []
    stripped = strip_diacritics(clean)
    found = []
    words, stripped_words = _words(clean), _words(stripped)
    for topic in taxonomy if taxonomy is not None else _topics():
        if topic._index.search(clean, words) or topic._unaccented_index.search(stripped, stripped_words):
            found.append(topic.name)
    return found


# --- key phrases ----------------------------------------------------------------------------------------------

_MASK = re.compile(r"\[(email|phone)\]")


_PHRASE_TOKEN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]+", re.UNICODE)  # words ("don't" is one) and punctuation
_MAX_PHRASE_WORDS = 3  # "giao hàng chậm", "refund still pending"


@lru_cache(maxsize=4)
def _phrase_stopwords(language: str) -> frozenset[str]:
    """Words that end a candidate phrase: YAKE's English list (it ships in the wheel) and/or the Vietnamese
    lexicon's stop words, by the text's language."""
    stopwords: set[str] = set()
    if language in ("en", "mixed", "unknown"):
        stop_file = _yake_english_stopwords_file()
        stopwords |= set(stop_file.read_text(encoding="utf-8", errors="ignore").lower().split())
    if language in ("vi", "mixed"):
        stopwords |= set(vi_lexicon().stopwords)
    return frozenset(stopwords)


def _candidate_runs(text: str, stopwords: frozenset[str]) -> list[list[str]]:
    """Maximal runs of content words: stop words, punctuation and words with digits (ids, amounts) end a run."""
    runs: list[list[str]] = []
    run: list[str] = []
    for token in _PHRASE_TOKEN.findall(text.lower()):
        punctuation = not (token[0].isalnum() or token[0] == "_")
        if punctuation or token in stopwords or any(ch.isdigit() for ch in token):
            if run:
                runs.append(run)
            run = []
        else:
            run.append(token.replace("’", "'"))
    if run:
        runs.append(run)
    return runs


def key_phrases(text: str | None, language: Language | None = None, top: int = TOP_KEY_PHRASES) -> list[str]:
    """Up to ``top`` key phrases, lower case, with PII masked and no phrase that is only digits, an id or a mask.

    RAKE (Rose et al. 2010) on the one text: candidates are the runs of content words between stop words and
    punctuation (runs longer than three words give their three- and two-word windows), each word scores its degree / its
    frequency, a phrase the sum of its words; the best non-overlapping candidates win. It
    needs no model and no other text, so a text's phrases never depend on the batch it was analysed in."""
    # masked PII is cut out (a clause break), so that no phrase is built around it
    clean = _MASK.sub(" , ", mask_pii(normalise(text)))
    _, clean = emoji_valence(clean)
    if not _WORD.search(clean):
        return []
    language = language or detect_language(clean)
    runs = _candidate_runs(clean, _phrase_stopwords(language))
    candidates: list[tuple[int, tuple[str, ...]]] = []  # (position of the first word, words)
    position = 0
    for run in runs:
        if len(run) <= _MAX_PHRASE_WORDS:
            candidates.append((position, tuple(run)))
        else:
            # its three- and two-word windows: the best non-overlapping ones cover the run, its tail included
            for n in (_MAX_PHRASE_WORDS, _MAX_PHRASE_WORDS - 1):
                candidates += [(position + i, tuple(run[i : i + n])) for i in range(len(run) - n + 1)]
        position += len(run) + 1  # +1: a gap, so that windows of two runs never overlap
    frequency: dict[str, int] = {}
    degree: dict[str, int] = {}
    for _, words in candidates:
        for word in words:
            frequency[word] = frequency.get(word, 0) + 1
            degree[word] = degree.get(word, 0) + len(words)
    # ties (often: single words) go to the longer, more specific phrase ("replacement" before "call"), then the earlier
    scored = sorted(
        candidates, key=lambda c: (-sum(degree[w] / frequency[w] for w in c[1]), -sum(map(len, c[1])), c[0])
    )
    phrases: list[str] = []
    taken: set[int] = set()
    for start, words in scored:
        phrase = " ".join(words)
        span = set(range(start, start + len(words)))
        if phrase in phrases or span & taken or not 3 <= len(phrase) <= 60:
            continue
        if language != "en" and len(words) == 1 and has_vietnamese_letters(phrase):
            continue  # one Vietnamese syllable ("hàng", "sản") is rarely a phrase
        phrases.append(phrase)
        taken |= span
        if len(phrases) == top:
            break
    return phrases


# --- PII ------------------------------------------------------------------------------------------------------

_MIN_PHONE_DIGITS = 5  # no valid number anywhere, country code included, has fewer digits
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)


def mask_pii(text: str | None, region: str = "VN") -> str:
    """Emails -> [email], phone numbers (libphonenumber's matcher, national and international) -> [phone].

    Order and ticket ids ("SO-0001-000017") stay: the console needs them, and they identify an order, not a person.
    Names and street addresses are not masked (no offline recogniser we trust for both languages)."""
    if not text:
        return ""
    return _mask_pii(str(text), region)


@lru_cache(maxsize=4096)  # analyse() masks a text for its key phrases, the mart again for its verbatim
def _mask_pii(text: str, region: str) -> str:
    import phonenumbers

    masked = _EMAIL.sub("[email]", text)
    if sum(map(str.isdigit, masked)) < _MIN_PHONE_DIGITS:
        return masked  # too few digits for any phone number: skip the matcher, the costliest part of this function
    spans = []
    for match in phonenumbers.PhoneNumberMatcher(masked, region, leniency=phonenumbers.Leniency.VALID):
        before = masked[max(0, match.start - 1) : match.start]
        if before and (before.isalnum() or before == "-"):  # digits inside an id such as SO-0001-000017
            continue
        spans.append((match.start, match.end))
    for start, end in reversed(spans):
        masked = masked[:start] + "[phone]" + masked[end:]
    return masked


# --- everything -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextInsight:
    language: Language
    sentiment_label: SentimentLabel
    sentiment_score: float
    topics: list[str]
    key_phrases: list[str]
    text_length: int  # characters of the text as received (before truncation)


def analyse(text: str | None) -> TextInsight:
    """Language, sentiment, topics and key phrases of one text (None, empty and emoji-only texts included)."""
    length = len(text) if text else 0
    clean = normalise(text)
    language = detect_language(clean)
    mood = sentiment(clean, language)
    return TextInsight(
        language=language,
        sentiment_label=mood.label,
        sentiment_score=mood.score,
        topics=topics(clean),
        key_phrases=key_phrases(clean, language),
        text_length=length,
    )
