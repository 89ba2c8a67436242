# The inventory server's image. Build: docker build -t inventory-server .
# Two stages: `build` makes a virtualenv of requirements.lock (the runtime set only; tests and
# tools are in requirements-dev.lock), the final stage copies that venv and the app's source.
# tests/unit/test_dockerfile.py checks this file against the repository and .dockerignore.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
# --no-deps + pip check: the lock alone is the closure, so a missing pin fails the build
# instead of pip picking some version. Every pin has a manylinux x86_64 wheel (checked), so no
# compiler is needed; on another platform --only-binary names any pin without one.
RUN /opt/venv/bin/pip install --no-deps --only-binary=:all: -r /tmp/requirements.lock \
    && /opt/venv/bin/pip check

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH \
    HOST=0.0.0.0 PORT=8000 DATA_DIR=/data
# uid 10001, no login, no home; /data only for the embedded PostgreSQL (no DATABASE_URL)
RUN groupadd --system --gid 10001 inventory \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin \
        inventory \
    && install -d -o 10001 -g 10001 /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The source only (root-owned, read-only to the server): no tests/, bench/, .git.
COPY server.py cli.py ./
COPY bootstrap/ bootstrap/
COPY compat/ compat/
COPY domain/ domain/
COPY feed/ feed/
COPY ops/ ops/
COPY resolvers/ resolvers/
COPY schema/ schema/
COPY service/ service/
COPY settings/ settings/
COPY store/ store/
COPY web/ web/
COPY migrations/ migrations/
COPY static/ static/
# bytecode now, as the server may not write it (read-only root filesystem in deploy/k8s/)
RUN python -m compileall -q /app

USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os,sys,urllib.request as u; sys.exit(u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=2).status != 200)"]
# Migrations: at startup under an advisory lock (MIGRATE_ON_START, default on), or first as
# `python server.py migrate` (deploy/k8s/migrate-job.yaml) with MIGRATE_ON_START=false.
CMD ["python", "server.py", "serve"]
