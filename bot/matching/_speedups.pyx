# cython: language_level=3, boundscheck=False, wraparound=False
"""The tokenizer's inner loop in C: the words of a folded text with their offsets.

Exactly the split of `text._COMPOUND` (or `text._COMPOUND_MARKS` when ``marks``): runs of letters and
digits (`str.isalnum`, which is what `[^\\W_]` means to `re`), joined across one inner apostrophe or
hyphen followed by another letter or digit; with ``marks``, combining marks U+0300-U+036F count as
letters. tests/unit/test_matcher_properties.py checks it against the `re` version on random texts.
"""

from cpython.array cimport array, clone
from cpython.unicode cimport Py_UNICODE_ISALNUM


cdef extern from "Python.h":
    int PyUnicode_KIND(object o)
    void* PyUnicode_DATA(object o)
    Py_UCS4 PyUnicode_READ(int kind, void* data, Py_ssize_t index)
    void PyUnicode_WRITE(int kind, void* data, Py_ssize_t index, Py_UCS4 value)
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    object PyUnicode_Substring(object s, Py_ssize_t start, Py_ssize_t end)


cdef inline bint _letter(Py_UCS4 c, bint marks) noexcept:
    if c < 128:  # ASCII: [0-9A-Za-z] is exactly what isalnum() accepts
        return (97 <= c <= 122) or (48 <= c <= 57) or (65 <= c <= 90)
    if 0x400 <= c <= 0x4ff:  # Cyrillic: letters, but for U+0482-U+0489 (a sign and combining marks)
        return c < 0x482 or c > 0x489
    return Py_UNICODE_ISALNUM(c) or (marks and 0x300 <= c <= 0x36f)


cdef object _word(int kind, void* data, Py_ssize_t start, Py_ssize_t end, Py_UCS4 maxchar):
    """text[start:end] as a new str; ``maxchar`` is its largest character, already known from the scan
    (what `PyUnicode_Substring` would look for again)."""
    cdef object word = PyUnicode_New(end - start, maxchar)
    cdef int out_kind = PyUnicode_KIND(word)
    cdef void* out = PyUnicode_DATA(word)
    cdef Py_ssize_t j
    for j in range(end - start):
        PyUnicode_WRITE(out_kind, out, j, PyUnicode_READ(kind, data, start + j))
    return word


cdef array _OFFSETS = array("q")


def split_words(str folded, bint marks):
    """(words, starts, ends): the words as new strings, their offsets as two arrays of int64."""
    cdef Py_ssize_t n = len(folded), i = 0, start, count = 0
    cdef int kind = PyUnicode_KIND(folded)
    cdef void* data = PyUnicode_DATA(folded)
    cdef Py_UCS4 c, top
    # a text of n characters holds at most (n + 1) // 2 words
    cdef array starts = clone(_OFFSETS, (n + 1) // 2, False)
    cdef array ends = clone(_OFFSETS, (n + 1) // 2, False)
    cdef long long* s = starts.data.as_longlongs
    cdef long long* e = ends.data.as_longlongs
    cdef list words = []
    while i < n:
        c = PyUnicode_READ(kind, data, i)
        if not _letter(c, marks):
            i += 1
            continue
        start = i
        top = c
        i += 1
        while True:
            while i < n:
                c = PyUnicode_READ(kind, data, i)
                if not _letter(c, marks):
                    break
                if c > top:
                    top = c
                i += 1
            if i + 1 < n:
                c = PyUnicode_READ(kind, data, i)
                if c == 39 or c == 45:  # ' or -, joining when a letter or digit follows
                    c = PyUnicode_READ(kind, data, i + 1)
                    if _letter(c, marks):
                        if c > top:
                            top = c
                        i += 2
                        continue
            break
        words.append(_word(kind, data, start, i, top) if kind != 1 else PyUnicode_Substring(folded, start, i))
        s[count] = start
        e[count] = i
        count += 1
    return words, starts[:count], ends[:count]


def collect_hits(list words, dict cache, object miss, bint phrases, dict analyses, set probe, Py_ssize_t limit):
    """The matcher's first pass over a post (`CompiledMatcher._collect` in C): each word's cached
    atoms, the indexes of the tokens that are phrase words (only when there are ``phrases``), and
    the tokens grouped by their word-term atoms. Returns (found, phrase_idx, groups).

    A word not in ``cache`` whose analysis is in ``analyses`` (the shared word analyses,
    `morph.Morphology.words`) and whose probe meets nothing in ``probe`` (the matcher's keys) is in
    no rule: it is cached as ``()`` here, while the cache holds fewer than ``limit`` words. Any
    other word not cached goes to ``miss(word)`` (`CompiledMatcher._atoms`), which does the rest."""
    cdef Py_ssize_t i, n = len(words)
    cdef list found = [None] * n
    cdef list phrase_idx = []
    cdef dict groups = {}
    cdef object word, value, atoms, same, analysis
    for i in range(n):
        word = words[i]
        value = cache.get(word)
        if value is None:
            analysis = analyses.get(word)
            if analysis is not None and len(cache) < limit and probe.isdisjoint((<tuple>analysis)[2]):
                value = ()
                cache[word] = value
            else:
                value = miss(word)
        found[i] = value
        if not value:  # (): in no rule, the common case
            continue
        atoms = (<tuple>value)[0]
        if atoms:
            same = groups.get(atoms)
            if same is None:
                groups[atoms] = [i]
            else:
                (<list>same).append(i)
        if phrases and (<tuple>value)[1]:
            phrase_idx.append(i)
    return found, phrase_idx, groups


def report_terms(dict groups, list plans, object make_plan, starts, ends, dict span_hits, object new_match):
    """The matcher's second pass (`CompiledMatcher._report` in C): for each atom hit, its spans;
    for each word term of the atom, its spans (with those it was also found at as a joined compound,
    taken out of ``span_hits``), a match for each of its direct rules, and its rules to evaluate.
    Returns (result, spans_of, candidates)."""
    cdef dict positions = {}
    cdef dict spans_of = {}
    cdef list result = []
    cdef set candidates = set()
    cdef object atoms, idx, aid, pos, plan, spans, found_spans, extra, tid, indexes, rule_id
    cdef tuple row
    cdef Py_ssize_t i
    for atoms, idx in groups.items():
        for aid in <tuple>atoms:
            pos = positions.get(aid)
            positions[aid] = idx if pos is None else sorted(pos + idx)
    for aid, pos in positions.items():
        plan = plans[aid]
        if plan is None:
            plan = make_plan(aid)
        if len(<list>pos) == 1:
            i = (<list>pos)[0]
            spans = ((starts[i], ends[i]),)
        else:
            spans = tuple([(starts[j], ends[j]) for j in <list>pos])
        for row in <tuple>plan:
            tid = row[0]
            extra = span_hits.pop(tid, None) if span_hits else None
            found_spans = tuple(sorted({*spans, *extra})) if extra else spans
            spans_of[tid] = found_spans
            for rule_id in <tuple>row[1]:
                result.append(new_match((rule_id, found_spans)))
            indexes = row[2]
            if indexes:
                candidates.update(indexes)
    return result, spans_of, candidates
