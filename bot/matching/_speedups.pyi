from array import array
from collections.abc import Callable
from typing import Any

def split_words(folded: str, marks: bool) -> tuple[list[str], array[int], array[int]]: ...
def collect_hits(
    words: list[str],
    cache: dict[str, tuple[tuple[int, ...], ...]],
    miss: Callable[[str], tuple[tuple[int, ...], ...]],
    phrases: bool,
    analyses: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]],
    probe: set[str],
    limit: int,
) -> tuple[list[tuple[tuple[int, ...], ...]], list[int], dict[tuple[int, ...], list[int]]]: ...
def report_terms(
    groups: dict[tuple[int, ...], list[int]],
    plans: list[object],
    make_plan: Callable[[int], object],
    starts: object,
    ends: object,
    span_hits: dict[int, list[tuple[int, int]]],
    new_match: Callable[[tuple[int, tuple[tuple[int, int], ...]]], object],
) -> tuple[list[Any], dict[int, tuple[tuple[int, int], ...]], set[int]]: ...
