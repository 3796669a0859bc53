"""Process sizes and start-up: peak resident size per role, `--help` start-up, `tgmon import` throughput.

    python -m benchmarks.memory [--rules 0,10,10000] [--posts 2000] [--repeat 3]
                                [--only startup,memory,import] [--workdir DIR]

Every figure comes from a real child process started the way an operator starts it, on SQLite:

- **peak resident size** (``VmHWM`` the kernel kept for the child's own image, read as it exits through
  ``benchmarks/peak.py``: what the operating system counted, C libraries included; ``ru_maxrss`` would
  also count this benchmark's own size at the fork) of an ingesting process -- ``tgmon import`` of posts it has never seen, into a
  database holding R rules (it builds the matcher and matches every post, as ``tgmon run --role
  ingest`` does) -- and of a bot-only process: the bot role's app, Telethon client, command handlers,
  and a subscriber's session (/start, /watch with its preview, /rules, /search, a rule change), which
  never matches and must not build the matcher;
- **start-up**: ``tgmon --help`` and every command's ``--help``, and ``tgmon match`` of 3 posts at R
  rules (wall and CPU seconds of the child);
- **import throughput**: posts/s of ``tgmon import`` at R rules, from two imports of unseen posts (N
  and N/10 posts) into fresh copies of the same database: (N - N/10) / the difference in the child's
  CPU time, so start-up, migrations and compiling the matcher are left out.

The rules are the realistic mix of benchmarks/matching.py with 5% ``/pattern/`` rules
(benchmarks/regex_rules.py), 20 a subscriber; the posts come from benchmarks/corpus.py, a new seed for
every trial (never seen by the database or the process). Medians of ``--repeat`` trials.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CHANNEL = "benchmemchan"
HISTORY_POSTS = 3000  # stored before the measurement: what /watch's preview and /search read
REGEX_SHARE = 0.05


# ---- the data: rules in a database, exports of unseen posts ------------------------------------------

def rule_sources(n: int) -> list[tuple[int, str]]:
    """(subscriber, source) for n rules: the matching benchmark's mix plus 5% patterns."""
    if n == 0:
        return []
    from benchmarks.corpus import Generator
    from benchmarks.matching import Corpus, build_rules
    from benchmarks.regex_rules import regex_rules

    gen = Generator(seed=23)
    posts = [p.text for p in gen.posts(1000)]
    lemmas = [lemma for lang in ("ru", "uk") for lemma, _ in gen.lexemes[lang][300:6000]]
    bigrams = [" ".join(p.lower().split()[i : i + 2]) for p in posts[:500] for i in range(0, 6, 2)]
    corpus = Corpus(posts, lemmas, [b for b in bigrams if all(w.isalpha() for w in b.split())])
    n_regex = round(n * REGEX_SHARE)
    words = build_rules(corpus, n - n_regex)
    # the patterns spread over the same subscribers (one each), 20 rules a subscriber in all
    subscribers = max(1, (n + 19) // 20)
    regexes = [(i % subscribers + 1, r.source) for i, r in enumerate(regex_rules(lemmas, n_regex, first_id=0))]
    from bot.matching.errors import RuleError
    from bot.matching.rules import parse_rule

    def valid(source: str) -> bool:  # the generator can make a phrase of no words (`""`): /watch refuses it
        try:
            parse_rule(source)
        except RuleError:
            return False
        return True

    return [(r.subscriber_id or 1, r.source) for r in words if valid(r.source)] + regexes


def write_export(path: Path, n: int, seed: int, first_id: int = HISTORY_POSTS) -> None:
    """A Telegram Desktop export (result.json) of n posts of one channel, generated from `seed`, their
    message ids after `first_id` (after the stored history's: new posts, not edits of stored ones)."""
    from benchmarks.corpus import Generator

    gen = Generator(seed=seed, channels=1)
    messages = [{"id": first_id + p.message_id, "type": "message", "date": p.date.strftime("%Y-%m-%dT%H:%M:%S"),
                 "date_unixtime": str(int(p.date.timestamp())), "text": p.text} for p in gen.posts(n)]
    path.write_text(json.dumps({"name": "Bench", "type": "public_channel", "id": 777, "messages": messages},
                               ensure_ascii=False), "utf-8")


async def _template(path: Path, rules: int, history: Path) -> None:
    """A migrated database with HISTORY_POSTS stored posts and `rules` rules."""
    from bot.ingest.export import read_export
    from bot.ingest.pipeline import Pipeline
    from bot.matching import compile_rules
    from bot.storage import models as m
    from bot.storage.database import Database

    db = Database.from_url(f"sqlite:///{path}")
    await db.upgrade()
    pipeline = Pipeline(db, compile_rules)  # no rule yet: storing and indexing only
    await pipeline.ingest(list(read_export(history, username=CHANNEL)))
    await pipeline.flush_index()
    await pipeline.close()
    sources = rule_sources(rules)
    async with db.uow() as session:
        ids = sorted({sub for sub, _ in sources})
        subs = {sub: m.Subscriber(chat_id=10_000 + sub) for sub in ids}
        session.add_all(subs.values())
        await session.flush()
        session.add_all(m.Rule(subscriber_id=subs[sub].id, source=source, channels=[]) for sub, source in sources)
    await db.dispose()


def env_for(workdir: Path, db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TGMON_", "TELEGRAM_"))}
    env.update({"TGMON_DATABASE_URL": f"sqlite:///{db}", "TGMON_DATA_DIR": str(workdir / "data"),
                "TGMON_CONFIG": str(workdir / "none.toml"), "TGMON_ENV_FILE": str(workdir / "none.env"),
                "TGMON_LOG_LEVEL": "WARNING"})
    return env


# ---- running a child ---------------------------------------------------------------------------------

@dataclass
class Child:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child
    peak_mib: float  # VmHWM of the child's own image
    out: str


def run_child(args: Sequence[str], env: dict[str, str]) -> Child:
    start = time.perf_counter()
    peak_file = Path(tempfile.mkstemp(prefix="tgmon-peak-")[1])
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.peak", str(peak_file), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    out = proc.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{out[-2000:]}")
    # the child's own VmHWM (benchmarks/peak.py): ru_maxrss would carry this process's size from the fork
    peak_kib = int(peak_file.read_text() or 0)
    peak_file.unlink()
    return Child(wall, usage.ru_utime + usage.ru_stime, peak_kib / 1024, out)


def _med(values: Sequence[float]) -> float:
    return statistics.median(values)


# ---- the bot-only process (run as a child: python -m benchmarks.memory --child-bot) ------------------

async def child_bot() -> None:
    """What `tgmon run --role bot` holds once it answered a subscriber: the app, the Telethon bot client
    and its handlers, and a few commands through the real command layer (no network: the client is
    never connected; the commands do not need it)."""
    from bot.app import build_app
    from bot.commands import BotCommands
    from bot.commands.types import Caller
    from bot.config import load_settings
    from bot.telegram.bot_runner import BotService
    from bot.telegram.clients import make_bot_client
    from bot.telegram.handlers import BotHandlers

    settings = load_settings()
    app = await build_app(settings)
    client = make_bot_client(settings)
    service = BotService(app, client)
    commands = BotCommands(service.context("tgmon_bench_bot"))
    BotHandlers(commands, client).register()
    caller = Caller(chat_id=1001, user_id=1001, language_code="ru")
    said = []
    for text in ("/start", "/watch обстрел", "/watch /конд[а-яё]{2,6}/", "/rules", "/search батальон",
                 "/search граница -учение", "/watch \"губернатор сообщил\""):
        reply = await commands.handle_text(caller, text)
        said.append(len(reply.text) if reply is not None else 0)
    assert app.pipeline._matcher is None, "a bot-only process built the matcher"
    await app.close()
    print(json.dumps({"replies": said}))


# ---- the measurements --------------------------------------------------------------------------------

def help_commands() -> list[list[str]]:
    """`--help` of the group and of every command and subcommand."""
    import click

    from bot.cli import cli

    out: list[list[str]] = [[]]

    def walk(group: click.Group, path: list[str]) -> None:
        for name in group.list_commands(click.Context(group)):
            cmd = group.get_command(click.Context(group), name)
            if cmd is None or cmd.hidden:
                continue
            out.append([*path, name])
            if isinstance(cmd, click.Group):
                walk(cmd, [*path, name])

    walk(cli, [])
    return out


def bench_startup(workdir: Path, env: dict[str, str], repeat: int) -> None:
    commands = help_commands()
    rows = []
    for cmd in commands:
        runs = [run_child(["-m", "bot", *cmd, "--help"], env) for _ in range(repeat)]
        rows.append((" ".join(["tgmon", *cmd, "--help"]), _med([r.wall for r in runs]), _med([r.cpu for r in runs]),
                     _med([r.peak_mib for r in runs])))
    bare = [run_child(["-c", "pass"], env) for _ in range(repeat)]
    print(f"\nstart-up, medians of {repeat} (python -c pass: {_med([b.wall for b in bare]):.3f} s wall, "
          f"{_med([b.cpu for b in bare]):.3f} s CPU)")
    print(f"  {'command':<44} {'wall s':>7} {'CPU s':>7} {'peak MiB':>9}")
    for name, wall, cpu, peak in rows:
        print(f"  {name:<44} {wall:7.3f} {cpu:7.3f} {peak:9.0f}")
    walls = [r[1] for r in rows]
    cpus = [r[2] for r in rows]
    print(f"  all {len(rows)} --help: wall {min(walls):.3f}-{max(walls):.3f} s, CPU {min(cpus):.3f}-{max(cpus):.3f} s")


def bench_match_startup(workdir: Path, env: dict[str, str], counts: list[int], repeat: int) -> None:
    posts = workdir / "three.jsonl"
    from benchmarks.corpus import Generator

    texts = [p.text for p in Generator(seed=99, channels=1).posts(3)]
    posts.write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts)),
                     "utf-8")
    print(f"\n`tgmon match --rules R.txt --posts 3.jsonl --json`, medians of {repeat}")
    for n in counts:
        if n == 0:
            continue
        rules = workdir / f"rules-{n}.txt"
        rules.write_text("".join(source + "\n" for _, source in rule_sources(n)), "utf-8")
        runs = [run_child(["-m", "bot", "match", "--rules", str(rules), "--posts", str(posts), "--json"], env)
                for _ in range(repeat)]
        print(f"  {n:>6,} rules: wall {_med([r.wall for r in runs]):.2f} s, CPU {_med([r.cpu for r in runs]):.2f} s, "
              f"peak {_med([r.peak_mib for r in runs]):.0f} MiB")


def _fresh_copy(template: Path, workdir: Path, name: str) -> Path:
    path = workdir / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, path)
    return path


def bench_roles(workdir: Path, templates: dict[int, Path], posts: int, repeat: int, only: set[str]) -> None:
    seed = 1000
    memory: dict[tuple[str, int], list[float]] = {}
    rates: dict[int, list[float]] = {}
    for n, template in templates.items():
        for _ in range(repeat):
            seed += 1
            big = workdir / f"unseen-{seed}.json"
            write_export(big, posts, seed)
            db = _fresh_copy(template, workdir, "trial.db")
            env = env_for(workdir, db)
            ingest = run_child(["-m", "bot", "import", str(big), "--channel", CHANNEL], env)
            memory.setdefault(("ingest", n), []).append(ingest.peak_mib)
            if "import" in only:
                seed += 1
                small = workdir / f"unseen-{seed}.json"
                write_export(small, posts // 10, seed)
                db = _fresh_copy(template, workdir, "trial.db")
                base = run_child(["-m", "bot", "import", str(small), "--channel", CHANNEL], env)
                rates.setdefault(n, []).append((posts - posts // 10) / max(1e-9, ingest.cpu - base.cpu))
                small.unlink()
            big.unlink()
            if "memory" in only:
                db = _fresh_copy(template, workdir, "trial.db")
                bot = run_child(["-m", "benchmarks.memory", "--child-bot"], {
                    **env_for(workdir, db), "TELEGRAM_API_ID": "12345", "TELEGRAM_API_HASH": "0" * 32,
                    "TELEGRAM_BOT_TOKEN": "12345:bench-not-a-real-token"})
                memory.setdefault(("bot", n), []).append(bot.peak_mib)
    if "memory" in only:
        print(f"\npeak resident size (VmHWM of the child), medians of {repeat}")
        for (role, n), values in sorted(memory.items()):
            what = f"tgmon import of {posts:,} unseen posts" if role == "ingest" else "bot-only session"
            print(f"  {role:<7} {n:>6,} rules: {_med(values):6.0f} MiB  ({what}; trials "
                  f"{', '.join(f'{v:.0f}' for v in values)})")
    if "import" in only:
        print(f"\n`tgmon import` throughput, unseen posts, ({posts:,} - {posts // 10:,}) posts / CPU difference, "
              f"medians of {repeat}")
        for n, values in sorted(rates.items()):
            print(f"  {n:>6,} rules: {_med(values):6,.0f} posts/s  (trials {', '.join(f'{v:,.0f}' for v in values)})")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", default="0,10,10000", help="rule counts, comma-separated")
    parser.add_argument("--posts", type=int, default=2000, help="unseen posts an ingesting process imports")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="startup,memory,import")
    parser.add_argument("--workdir", default=None, help="keep the databases here (default: a temporary directory)")
    parser.add_argument("--child-bot", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_bot:
        asyncio.run(child_bot())
        return
    only = set(args.only.split(","))
    counts = [int(n) for n in args.rules.split(",")]
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="tgmon-memory-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        empty = workdir / "empty.db"
        if "startup" in only:
            env = env_for(workdir, empty)
            bench_startup(workdir, env, args.repeat)
            bench_match_startup(workdir, env, counts, args.repeat)
        if only & {"memory", "import"}:
            history = workdir / "history.json"
            write_export(history, HISTORY_POSTS, seed=5, first_id=0)
            templates = {}
            for n in counts:
                path = workdir / f"template-{n}.db"
                if not path.exists():
                    asyncio.run(_template(path, n, history))
                templates[n] = path
            bench_roles(workdir, templates, args.posts, args.repeat, only)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
