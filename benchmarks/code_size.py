"""Lines of code of `bot/` at a git revision (default: the work tree): total, the largest modules and
the largest functions. `python -m benchmarks.code_size [REV ...]` prints one table per revision.

Lines are non-blank, non-comment source lines of .py/.pyx files (docstrings count: they are read).
"""

from __future__ import annotations

import ast
import io
import subprocess
import sys
import tarfile
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _files(rev: str | None) -> dict[str, str]:
    if rev is None:
        return {str(p.relative_to(ROOT)): p.read_text("utf-8") for p in sorted((ROOT / "bot").rglob("*"))
                if p.suffix in {".py", ".pyx"} and p.is_file()}
    raw = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "bot"], check=True, capture_output=True).stdout
    out: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith((".py", ".pyx")):
                handle = tar.extractfile(member)
                if handle is not None:
                    out[member.name] = handle.read().decode("utf-8")
    return out


def code_lines(source: str) -> int:
    """Lines holding a token other than a comment, a newline or indentation."""
    lines: set[int] = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type not in skip:
                lines.update(range(tok.start[0], tok.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):  # .pyx: count non-blank, non-comment lines
        return sum(1 for line in source.splitlines() if line.strip() and not line.strip().startswith("#"))
    return len(lines)


def functions(path: str, source: str) -> list[tuple[int, str]]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
            found.append((node.end_lineno - node.lineno + 1, f"{path}:{node.name}"))
    return found


def report(rev: str | None, top: int = 8) -> str:
    files = _files(rev)
    sizes = sorted(((code_lines(src), path) for path, src in files.items()), reverse=True)
    funcs = sorted((f for path, src in files.items() for f in functions(path, src)), reverse=True)
    migrations = sum(n for n, p in sizes if "/migrations/" in p)
    lines = [f"## {rev or 'work tree'}",
             f"code lines in bot/: {sum(n for n, _ in sizes)} in {len(sizes)} files "
             f"({migrations} of them in migrations)",
             "largest modules: " + ", ".join(f"{p.removeprefix('bot/')} {n}" for n, p in sizes[:top]),
             "largest functions: " + ", ".join(f"{p.removeprefix('bot/')} {n}" for n, p in funcs[:top])]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    for rev in argv or [None]:  # type: ignore[list-item]
        print(report(rev))
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
