from array import array
from collections.abc import Callable

def split_words(folded: str, marks: bool) -> tuple[list[str], array[int], array[int]]: ...
def collect_hits(
    words: list[str],
    cache: dict[str, tuple[tuple[int, ...], ...]],
    miss: Callable[[str], tuple[tuple[int, ...], ...]],
    phrases: bool,
) -> tuple[list[tuple[tuple[int, ...], ...]], list[int], dict[tuple[int, ...], list[int]]]: ...
