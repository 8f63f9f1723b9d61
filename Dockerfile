# toxbot: one image for the bot and its command line.
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY grading ./grading
COPY handlers ./handlers
COPY reminders ./reminders
RUN pip install . && useradd --system --create-home --uid 10001 toxbot \
    && mkdir -p /app/var && chown toxbot /app/var

USER toxbot
# Until the Slack surface lands, the image answers `toxbot grade` and `toxbot --version`.
ENTRYPOINT ["toxbot"]
CMD ["--help"]
