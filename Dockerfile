# tgmon: python:3.11-slim, dependencies in their own layer, a non-root user, `tgmon` as entrypoint.
# Build: docker compose build (or: docker build -t tgmon .)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# 1. Dependencies only: this layer is rebuilt when pyproject.toml changes, not on every code change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# 2. The code.
#    A C compiler only for this step: setup.py compiles the tokenizer (bot/matching/_speedups.pyx),
#    and the check below fails the build rather than ship the three-times-slower fallback.
COPY README.md setup.py ./
COPY bot ./bot
COPY config ./config
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --no-deps . \
    && (cd / && python -c "import bot.matching.text as t; assert t.NATIVE_TOKENIZER, 'C tokenizer not built'") \
    && apt-get purge -y --auto-remove gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* build *.egg-info bot/matching/_speedups.c

# 3. A non-root user owning only the data folder (databases, the Telegram session, demo output).
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin tgmon \
    && mkdir -p /app/data \
    && chown tgmon:tgmon /app/data
USER tgmon
ENV TGMON_DATA_DIR=/app/data \
    TELEGRAM_SESSION_FILE=/app/data/tgmon-user.session
VOLUME ["/app/data"]
EXPOSE 9108

# SIGTERM (docker stop) is handled: current writes finish, sending stops, exit within 10 s.
ENTRYPOINT ["tgmon"]
CMD ["run"]
