# phrasecheck serve: the HTTP service (issue 16).
#
#   docker build -t phrasecheck .
#   docker run --rm -p 8080:8080 -e PHRASECHECK_API_KEYS=... phrasecheck --policy hotline --workers 2
#
# Arguments after the image name go to `phrasecheck serve` (the default: --policy default).
# The lexicons and the reply-tone model are part of the installed package; jieba's
# dictionary and the model's tables are cached in the image, so a container is ready in
# about a second.
# Secrets come from the environment: PHRASECHECK_API_KEYS (or --api-key-file on a mounted
# file) and PHRASECHECK_STATE_KEY (the same on every replica that restores another's
# sessions).

ARG PYTHON_VERSION=3.11

# ---------------------------------------------------------------------------- build stage
FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY lexicons ./lexicons
# a virtual environment, so the runtime stage copies one folder; a regular (not editable)
# install, so the lexicons and the model are inside site-packages
RUN python -m venv /opt/phrasecheck \
 && /opt/phrasecheck/bin/pip install ".[serve]"

# -------------------------------------------------------------------------- runtime stage
FROM python:${PYTHON_VERSION}-slim
LABEL org.opencontainers.image.title="phrasecheck" \
      org.opencontainers.image.description="Courtesy-compliance checks for Chinese service conversations, over HTTP" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/phrasecheck/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PHRASECHECK_CACHE_DIR=/var/cache/phrasecheck
COPY --from=build /opt/phrasecheck /opt/phrasecheck
# an unprivileged user; phrasecheck's start-up cache (jieba's dictionary, the model's
# lookup tables) is built here once, into a folder that user owns
RUN groupadd --system --gid 10001 phrasecheck \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/phrasecheck --shell /usr/sbin/nologin phrasecheck \
 && mkdir -p /var/cache/phrasecheck \
 && python -c "from phrasecheck import Analyzer; Analyzer(policy='default').warm()" \
 && chown -R phrasecheck:phrasecheck /var/cache/phrasecheck
# numeric, so that Kubernetes (runAsNonRoot) can tell it is not root
USER 10001:10001
WORKDIR /home/phrasecheck
EXPOSE 8080
# healthy = ready: jieba and the models are loaded (/readyz needs no API key)
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2).status == 200 else 1)"]
# exec form: `phrasecheck` is PID 1 and gets SIGTERM itself (docker stop), so in-flight
# requests finish before it exits (--graceful-timeout, default 30 s; docker stop waits 10 s
# unless given --time)
ENTRYPOINT ["phrasecheck", "serve", "--host", "0.0.0.0", "--port", "8080"]
CMD ["--policy", "default"]
