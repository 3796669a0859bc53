"""Hostile regexes: the worst post latency of the matcher with 1,000 fuzzed /pattern/ rules.

Patterns are generated at random (deterministically) from RE2's grammar with large repetitions,
nested optional groups, alternations and Unicode classes, as a hostile subscriber would write them;
each goes through what /watch does before accepting a rule (parse, the RE2 program bound, timing on
worst-case posts: bot/matching/regex.py) until 1,000 are accepted. All of them are then compiled
into one matcher (one subscriber each, so no quota drops one) and timed on hostile posts: each
accepted pattern's own worst-case post, long runs of one letter, random mixes, prose, and a
100,000-character post. Reported: how many patterns were refused and why, the acceptance check's
time, and the matcher's latency per post (worst, median), on the first pass (no regex switched off
yet) and on a second pass.

    python -m benchmarks.hostile_regex              # 1,000 accepted rules
    python -m benchmarks.hostile_regex --rules 200  # quicker
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter

from bot.domain import Rule

_LITERALS = "abcxyzабвгдеоя019 -."
_CLASSES = [r"\w", r"\d", r"\s", ".", "[a-z]", "[а-я]", "[^ ]", r"\W"]


def fuzz_pattern(rng: random.Random, depth: int = 0) -> str:
    """A random RE2 pattern, often a costly one."""
    parts = []
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        if roll < 0.35:
            atom = "".join(rng.choice(_LITERALS) for _ in range(rng.randint(1, 4))).replace(" ", "a")
            atom = atom.strip(".") or "a"
        elif roll < 0.6:
            atom = rng.choice(_CLASSES)
        elif depth < 3:
            inner = [fuzz_pattern(rng, depth + 1) for _ in range(rng.randint(1, 3))]
            atom = "(" + "|".join(inner) + ")"
        else:
            atom = rng.choice(_LITERALS.strip(" .")[:10])
        quant = rng.random()
        if quant < 0.2:
            atom += rng.choice(["?", "*", "+"])
        elif quant < 0.45:
            low = rng.choice([0, 1, 2, 5, 10, 50, 100, 300, 1000])
            high = rng.choice([low, low + rng.randint(0, 50), 1000]) if low < 1000 else 1000
            atom = f"({atom})" if len(atom) > 1 and not atom.startswith(("(", "[", "\\")) else atom
            atom += f"{{{low},{min(high, 1000)}}}" if high != low else f"{{{low}}}"
        parts.append(atom)
    return "".join(parts)


def hostile_posts(patterns: list[str], rng: random.Random) -> list[str]:
    from bot.matching.regex import COST_TEXT, worst_posts

    posts: list[str] = []
    for pattern in rng.sample(patterns, min(60, len(patterns))):
        posts.extend(worst_posts(pattern, COST_TEXT))
    posts += ["a" * 4096, "б" * 4096, "1" * 4096, " " * 4096, "ab" * 2048, "аб " * 1365]
    posts += ["".join(rng.choice(_LITERALS) for _ in range(4096)) for _ in range(10)]
    posts.append(("Обстрел Белгорода, батальон на позициях. " * 2500)[:100_000])
    return posts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hostile_regex", description=__doc__.split("\n")[0])
    parser.add_argument("--rules", type=int, default=1000, help="accepted regex rules to compile (default 1000)")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args(argv)

    from bot.config import MatchingSettings
    from bot.matching import RuleError, compile_rules, parse_rule
    from bot.matching import regex as regex_module
    from bot.matching.rules import check_rule_cost

    rng = random.Random(args.seed)
    accepted: list[str] = []
    refused: Counter[str] = Counter()
    check_times: list[float] = []
    tried = 0
    while len(accepted) < args.rules:
        source = f"/{fuzz_pattern(rng)}/"
        tried += 1
        started = time.perf_counter()
        try:
            check_rule_cost(parse_rule(source))
        except RuleError as exc:
            kind = type(exc).__name__
            text = str(exc)
            refused["too complex" if "too complex" in text else "too slow" if kind == "RegexTooSlowError"
                    else "RE2 refused it" if "RE2 cannot" in text else "other"] += 1
            check_times.append(time.perf_counter() - started)
            continue
        check_times.append(time.perf_counter() - started)
        if source not in accepted:
            accepted.append(source)
    print(f"fuzzed patterns: {tried}; accepted {len(accepted)}; refused: "
          + ", ".join(f"{n} {why}" for why, n in refused.most_common()))
    print(f"acceptance check per pattern: median {statistics.median(check_times) * 1000:.1f} ms, "
          f"worst {max(check_times) * 1000:.0f} ms")

    settings = MatchingSettings()
    matcher = compile_rules([Rule(i, source, subscriber_id=i) for i, source in enumerate(accepted, 1)], settings=settings)
    terms = [term for source in accepted for term in parse_rule(
        source, max_length=settings.max_rule_length, max_terms=settings.max_terms).terms]  # the matcher's own
    posts = hostile_posts([s[1:-1] for s in accepted], rng)
    print(f"matcher: {len(accepted)} regex rules; {len(posts)} hostile posts (4,096 characters each, one of 100,000)")
    print(f"bounds: regex text {regex_module.REGEX_TEXT:,} chars, post budget {regex_module.POST_BUDGET * 1000:.0f} ms, "
          f"slow run {regex_module.SLOW_RUN * 1000:.0f} ms x {regex_module.STRIKES} -> switched off")
    for label in ("first pass", "second pass"):
        latencies = []
        for text in posts:
            started = time.perf_counter()
            matcher.match(text, "chan")
            latencies.append(time.perf_counter() - started)
        off = sum(1 for term in terms if term.regex is not None and term.regex.health.off)
        latencies.sort()
        print(f"{label}: worst post {latencies[-1] * 1000:.0f} ms, p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms, "
              f"median {statistics.median(latencies) * 1000:.1f} ms; regexes switched off so far: {off}")
    # for comparison: the same matcher with no budget and nothing switched off, on a sample of the posts
    regex_module.POST_BUDGET = regex_module.SLOW_RUN = float("inf")
    for term in terms:
        if term.regex is not None:
            term.regex.health.off = False
    sample = posts[:: max(1, len(posts) // 40)]
    unbounded = []
    for text in sample:
        started = time.perf_counter()
        matcher.match(text, "chan")
        unbounded.append(time.perf_counter() - started)
    print(f"without the budget (for comparison, {len(sample)} of the posts): worst post {max(unbounded) * 1000:.0f} ms, "
          f"median {statistics.median(unbounded) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
