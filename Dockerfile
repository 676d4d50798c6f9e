# One image for every Agora process: the web apps (gunicorn), the Celery workers, the outbox
# relays and the one-shot migrations. docker-compose.yml picks the command per service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# An unprivileged user runs everything; root is only used to build the image.
RUN groupadd --system --gid 10001 agora \
    && useradd --system --uid 10001 --gid agora --create-home --home-dir /home/agora agora

# Dependencies first, in their own layer, so code changes don't reinstall them. Every pin in
# requirements.txt has a manylinux wheel for CPython 3.11, so no compiler is needed.
COPY requirements.txt ./
RUN python -m pip install "pip==25.3" \
    && python -m pip install -r requirements.txt

COPY . .

# Compile the Babel catalogues (the .mo files are not committed). Skipped while a directory has
# no catalogue yet; a broken catalogue fails the build.
RUN for dir in shared/translations services/*/translations; do \
        if [ -n "$(find "$dir" -name '*.po' 2>/dev/null | head -n 1)" ]; then \
            pybabel compile -d "$dir" || exit 1; \
        fi; \
    done \
    && mkdir -p var \
    && chown agora:agora var

USER agora

EXPOSE 8001 8002 8003

# docker-compose.yml sets the command of each service; this default serves registration.
CMD ["gunicorn", "-k", "gthread", "-w", "2", "--threads", "8", "-b", "0.0.0.0:8001", "services.registration.wsgi:app"]
