"""Regex rules at scale: matching speed with 5% /pattern/ rules against the same rules without them.

    python -m benchmarks.regex_rules [--rules 10000] [--share 0.05] [--posts 8000] [--repeat 3]

Rules: `benchmarks.matching.build_rules` (words, AND, phrases, OR, prefixes, exclusions, exact forms)
over the lexemes of the corpus, plus ``share`` of them /patterns/ of the kinds subscribers write
(`/конд[а-яё]{2,6}/`, `/(обстрел|взрыв)\\w*/`, `/\\d+ ранен/`, `/белгород\\w{0,3}/`). Posts: the
realistic corpus (benchmarks/corpus.py). Each trial starts from empty word caches and rules parsed
afresh, matches the first half of the posts ("cold", timed too) and then times the second half,
which it has never seen ("warm": CPU time of one core). Three rule sets, each in the same run: the word rules alone (the baseline), the word
rules with the regexes narrowed by their required literals (tgmon), and the same with every regex
run on every post (what tgmon did before). Medians of ``repeat`` trials.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Sequence

from bot.domain import Rule


def regex_rules(lemmas: Sequence[str], n: int, first_id: int, seed: int = 5) -> list[Rule]:
    rng = random.Random(seed)
    out: dict[str, None] = {}
    words = [w for w in lemmas if len(w) >= 6 and w.isalpha()]
    while len(out) < n:
        a, b = rng.choice(words), rng.choice(words)
        roll = rng.random()
        if roll < 0.4:
            source = f"/{a[:4]}[а-яё]{{2,6}}/"
        elif roll < 0.6:
            source = rf"/({a[:-2]}|{b[:-2]})\w*/"
        elif roll < 0.8:
            source = rf"/\d+ {a[:5]}/"
        else:
            source = rf"/{a[:-1]}\w{{0,3}}/"
        out[source] = None
    # 20 rules a subscriber, as build_rules does; a regex rule each keeps every subscriber within the quota
    return [Rule(first_id + i, s, subscriber_id=100_000 + i) for i, s in enumerate(out)]


def _trial(rules: list[Rule], warm: list[str], unseen: list[str], *, narrowed: bool) -> tuple[float, float]:
    """(cold, warm) posts/s: the first half matched from empty caches, the unseen second half after it."""
    from benchmarks.matching import _forget_words
    from bot.matching import compile_rules
    from bot.matching import matcher as matcher_module

    _forget_words()
    original = matcher_module.required_literals
    if not narrowed:
        matcher_module.required_literals = lambda pattern: ()  # type: ignore[assignment]
    try:
        matcher = compile_rules(rules)
    finally:
        matcher_module.required_literals = original
    started = time.process_time()
    for text in warm:
        matcher.match(text)
    cold = len(warm) / (time.process_time() - started)
    started = time.process_time()
    for text in unseen:
        matcher.match(text)
    return cold, len(unseen) / (time.process_time() - started)


def main(argv: Sequence[str] | None = None) -> None:
    from benchmarks.corpus import Generator
    from benchmarks.matching import Corpus, build_rules

    parser = argparse.ArgumentParser(prog="python -m benchmarks.regex_rules", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--share", type=float, default=0.05)
    parser.add_argument("--posts", type=int, default=8_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    gen = Generator(seed=23)
    posts = [p.text for p in gen.posts(args.posts)]
    lemmas = [lemma for lang in ("ru", "uk") for lemma, _ in gen.lexemes[lang][300:6000]]
    bigrams = [" ".join(p.lower().split()[i : i + 2]) for p in posts[:500] for i in range(0, 6, 2)]
    corpus = Corpus(posts, lemmas, [b for b in bigrams if all(w.isalpha() for w in b.split())])
    n_regex = round(args.rules * args.share)
    words = build_rules(corpus, args.rules - n_regex)
    regexes = regex_rules(lemmas, n_regex, first_id=len(words) + 1)
    half = len(posts) // 2
    warm, unseen = posts[:half], posts[half:]
    print(f"{len(words):,} word rules + {len(regexes):,} /pattern/ rules; warm-up on {len(warm):,} posts, "
          f"timed on {len(unseen):,} unseen posts; medians of {args.repeat}")
    results: dict[str, list[tuple[float, float]]] = {"words": [], "narrowed": [], "every post": []}
    for _ in range(args.repeat):  # interleaved, so a slower moment of the machine hits all three
        results["words"].append(_trial(words, warm, unseen, narrowed=True))
        results["narrowed"].append(_trial(words + regexes, warm, unseen, narrowed=True))
        results["every post"].append(_trial(words + regexes, warm, unseen, narrowed=False))
    base_cold = statistics.median(cold for cold, _ in results["words"])
    base = statistics.median(rate for _, rate in results["words"])
    for label, trials in results.items():
        cold = statistics.median(c for c, _ in trials)
        rate = statistics.median(r for _, r in trials)
        print(f"  {label:<11} warm {rate:7,.0f} unseen posts/s ({rate / base:.0%} of the word rules alone; trials "
              f"{', '.join(f'{r:,.0f}' for _, r in trials)}); cold {cold:7,.0f} ({cold / base_cold:.0%}; trials "
              f"{', '.join(f'{c:,.0f}' for c, _ in trials)})")


if __name__ == "__main__":
    main()
