"""`tgmon match` (check rules against texts), `tgmon search` (the archive), `tgmon reindex`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from bot.cli.base import UserError, cli, counted, run_async, settings_from
from bot.domain import Rule

if TYPE_CHECKING:
    from bot.config import MatchingSettings
    from bot.matching import CompiledMatcher
    from bot.storage.database import Database


def mark(text: str, spans: list[tuple[int, int]] | tuple[tuple[int, int], ...]) -> str:
    """The text with every highlighted span in [[double brackets]]."""
    out, at = [], 0
    for start, end in sorted(spans):
        if start < at:
            continue  # overlapping spans: the first one wins
        out.append(text[at:start] + "[[" + text[start:end] + "]]")
        at = end
    out.append(text[at:])
    return "".join(out)


def _merge(hits: list[Any]) -> list[tuple[int, int]]:
    return sorted({span for hit in hits for span in hit.highlights})


def _read_rules(path: Path, settings: MatchingSettings) -> list[Rule]:
    from bot.matching import RuleError, parse_rule

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; give a text file with one rule per line") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read it as UTF-8 text ({exc})") from None
    rules = []
    for number, line in enumerate(lines, 1):
        source = line.strip()
        if not source or source.startswith("#"):
            continue
        try:
            parse_rule(source, max_length=settings.max_rule_length, max_terms=settings.max_terms)
        except RuleError as exc:
            raise UserError(f"{path}:{number}: {exc}") from None
        rules.append(Rule(number, source, subscriber_id=number))  # its own quota: a file is a test bench
    if not rules:
        raise UserError(f"{path}: no rules (blank lines and lines starting with # are skipped)")
    return rules


def _read_posts(path: Path) -> list[tuple[object, str]]:
    posts: list[tuple[object, str]] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UserError(f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
                if not isinstance(item, dict) or "id" not in item or not isinstance(item.get("text"), str):
                    raise UserError(
                        f'{path}:{number}: expected an object with "id" and a string "text", '
                        'for example {"id": 1, "text": "Обстрел Белгорода"}'
                    )
                posts.append((item["id"], item["text"]))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; give a JSON Lines file, one post a line") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc})") from None
    return posts


def _compile(ctx: click.Context, rules: list[Rule], settings: MatchingSettings) -> CompiledMatcher:
    """The rules compiled; a rule the matcher refused (a topic without the model) is a user error."""
    from bot.matching import compile_rules

    matcher = compile_rules(rules, settings=settings)
    if matcher.errors:
        number, error = min(matcher.errors.items())
        raise UserError(f"rule {number}: {error}")
    return matcher


def _embedded(texts: list[str]) -> Any:
    """The texts' vectors for topic rules, in batches of 32."""
    import numpy as np

    from bot.matching.topics import embedder

    model = embedder()
    parts = [model.passages(texts[i : i + 32]) for i in range(0, len(texts), 32)]
    return np.concatenate(parts) if parts else None


@cli.command()
@click.option("--rules", "rules_file", type=click.Path(path_type=Path, dir_okay=False), help="one rule per line")
@click.option("--posts", "posts_file", type=click.Path(path_type=Path, dir_okay=False),
              help='JSON Lines: {"id": ..., "text": "..."} per line')
@click.option("--rule", "rule", help="one rule (with --text)")
@click.option("--text", "text", help="one text to check (with --rule)")
@click.option("--json", "as_json", is_flag=True, help="one JSON line per post: id, matching rule lines, highlights")
@click.pass_context
def match(ctx: click.Context, rules_file: Path | None, posts_file: Path | None, rule: str | None,
          text: str | None, as_json: bool) -> None:
    """Check rules against texts: --rules RULES.txt --posts POSTS.jsonl, or --rule RULE --text TEXT.

    Highlights are [start, end) character offsets into each text. A bad rule exits with code 2 and
    the parse error with its line number.
    """
    from bot.matching import RuleError, parse_rule

    settings = settings_from(ctx).matching
    if rule is not None or text is not None:
        if rule is None or text is None or rules_file or posts_file:
            raise UserError("use --rule RULE --text TEXT together, or --rules FILE --posts FILE")
        try:
            parse_rule(rule, max_length=settings.max_rule_length, max_terms=settings.max_terms)
        except RuleError as exc:
            raise UserError(f"rule: {exc}") from None
        hits = _compile(ctx, [Rule(1, rule)], settings).match_all(text)
        spans = _merge(hits)
        if as_json:
            click.echo(json.dumps({"match": bool(hits), "highlights": [list(s) for s in spans]}, ensure_ascii=False))
        else:
            click.echo(f"match: {mark(text, spans)}" if hits else "no match")
        return
    if rules_file is None or posts_file is None:
        raise UserError("give --rules RULES.txt and --posts POSTS.jsonl (or --rule RULE --text TEXT)")
    rules = _read_rules(rules_file, settings)
    posts = _read_posts(posts_file)  # read whole first: a bad line stops before any output
    matcher = _compile(ctx, rules, settings)
    vectors = _embedded([body for _, body in posts]) if matcher.has_topics() else None
    for n, (post_id, body) in enumerate(posts):
        hits = matcher.match_all(body, vector=None if vectors is None else vectors[n])
        spans = _merge(hits)
        lines = sorted(h.rule_id for h in hits)
        if as_json:
            click.echo(json.dumps({"id": post_id, "rules": lines, "highlights": [list(s) for s in spans]},
                                  ensure_ascii=False))
        elif hits:
            click.echo(f"post {post_id}: rules on lines {', '.join(map(str, lines))}\n  {mark(body, spans)}")
        else:
            click.echo(f"post {post_id}: no rule matched")


@cli.command()
@click.argument("rule")
@click.option("--days", type=click.IntRange(min=1), default=None, help="only posts of the last N days (default: all)")
@click.option("--limit", type=click.IntRange(min=1, max=1000), default=20, show_default=True)
@click.option("--channel", "channels", multiple=True, help="only this channel (repeatable)")
@click.option("--json", "as_json", is_flag=True,
              help="print one JSON object (total, exact, posts with date, channel, link, text, highlights)")
@click.pass_context
@run_async
async def search(ctx: click.Context, rule: str, days: int | None, limit: int, channels: tuple[str, ...],
                 as_json: bool) -> None:
    """Search the stored posts with a rule (full-text index, confirmed by the matcher); newest first."""
    from bot.matching import RuleError, parse_rule
    from bot.search import search_posts
    from bot.storage.database import Database

    settings = settings_from(ctx)
    try:
        parse_rule(rule, max_length=settings.matching.max_rule_length, max_terms=settings.matching.max_terms)
    except RuleError as exc:
        raise UserError(f"rule: {exc}") from None
    from bot.cli.hints import empty_hint, is_empty

    db = Database.from_url(settings.database.url)
    try:
        await db.upgrade()
        since = datetime.now(UTC) - timedelta(days=days) if days else None
        result = await search_posts(db, rule, since=since, limit=limit, channels=channels, settings=settings.matching)
        empty = not result.total and await is_empty(db)
    finally:
        await db.dispose()
    if as_json:
        click.echo(json.dumps({"total": result.total, "exact": result.exact,
                               "searched_since": result.searched_since.isoformat() if result.searched_since else None,
                               "posts": [
            {"date": post.date.isoformat(), "channel": post.channel_username, "channel_title": post.channel_title,
             "link": post.link, "text": post.text, "highlights": [list(span) for span in post.highlights],
             **({"closeness": post.closeness} if post.closeness is not None else {})}
            for post in result.posts],
            **({"near": [{"link": p.link, "closeness": p.closeness, "text": p.text} for p in result.near]}
               if result.near else {})}, ensure_ascii=False))
    if empty:
        click.echo(empty_hint(settings), err=True)
    if as_json:
        return
    window = f" in the last {counted(days, 'day')}" if days else ""
    about = "" if result.exact else "at least "
    click.echo(f"{about}{counted(result.total, 'post')} matched{window}" + (f"; the newest {len(result.posts)}:" if result.posts else ""))
    if result.searched_since is not None:
        click.echo(f"(read back to {result.searched_since:%Y-%m-%d %H:%M}: a rule of /patterns/ alone is checked post by "
                   "post and the search stops after a moment; add a word to search the whole archive)", err=True)
    for post in result.posts:
        excerpt = mark(post.text, post.highlights).replace("\n", " ")
        if len(excerpt) > 300:
            first = excerpt.find("[[")
            excerpt = ("…" if first > 100 else "") + excerpt[max(0, first - 100):][:300] + "…"
        close = f" (closeness {post.closeness:.2f})" if post.closeness is not None else ""
        click.echo(f"\n{post.date:%Y-%m-%d %H:%M} {post.channel_title or post.channel_username} {post.link}{close}\n  {excerpt}")
    if result.near:
        click.echo("\njust missed the topic (a looser ~0.N\"...\" would take them):")
        for post in result.near:
            click.echo(f"  {post.closeness:.2f} {post.link} {post.text[:120]!r}")


@cli.command()
@click.option("--missing", is_flag=True, help="only posts not in the search index yet (what the indexer has not reached)")
@click.option("--vectors", is_flag=True,
              help="instead: embed the posts for topic rules (~\"...\") whose vector is missing, stale or made by another model")
@click.pass_context
@run_async
async def reindex(ctx: click.Context, missing: bool, vectors: bool) -> None:
    """Recompute every post's lemma text and rebuild the full-text index (after a dictionary upgrade);
    with --vectors, embed the archive for topic rules."""
    from bot.search import reindex as run
    from bot.storage.database import Database

    if vectors:
        from bot.matching.topics import ENABLE_HINT, available

        if not available():
            raise UserError(ENABLE_HINT)
    db = Database.from_url(settings_from(ctx).database.url)
    try:
        await db.upgrade()
        if vectors:
            done = await _reindex_vectors(db)
        else:
            done = await run(db, only_missing=missing,
                             progress=lambda n: click.echo(f"  {counted(n, 'post')}", err=True) if n % 50_000 == 0 else None)
    finally:
        await db.dispose()
    if vectors:
        click.echo(f"embedded {counted(done, 'post')}; every post has its vector for topic rules")
        return
    click.echo(f"reindexed {counted(done, 'post')}; the full-text index is up to date")


async def _reindex_vectors(db: Database) -> int:
    """`reindex --vectors`, with a progress bar on stderr (posts, rate, time left)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from bot.ingest.topics import other_model_count, reindex_vectors

    others = await other_model_count(db)
    if others:
        click.echo(f"{counted(others, 'vector')} were made by another model: embedding them again", err=True)
    columns = (TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("embedding", total=None)
        return await reindex_vectors(db, progress=lambda done, total: bar.update(task, completed=done, total=total))
