# Production image: gunicorn for web; the same image runs the Celery worker and beat
# (see docker-compose.yml). Configuration comes from environment variables only.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WEB_CONCURRENCY=2

WORKDIR /app

# CJK glyphs for Chinese poster titles (referrals.poster): WenQuanYi Micro Hei, 5 MB (Noto CJK is 90 MB).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei && rm -rf /var/lib/apt/lists/*

# Requirements first, so code changes do not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Settings refuse DEBUG=0 without a real key; this one exists only for collectstatic at build
# time. The running container must get its own SECRET_KEY.
RUN DEBUG=0 SECRET_KEY=build-only-collectstatic-key-never-used-at-run-time \
    python manage.py collectstatic --noinput --verbosity 0

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin scrm \
    && mkdir -p /app/var \
    && chown -R scrm /app/var
USER scrm

EXPOSE 8000
# gunicorn reads the number of workers from WEB_CONCURRENCY.
CMD ["gunicorn", "scrm.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "--timeout", "60"]
