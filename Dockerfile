# The modelctl worker image: the same pinned set as requirements.lock, the project at /opt/modelctl.
#   docker build -t modelctl-worker:latest .
# Flow-run containers of the Docker work pool (prefect.yaml, "docker" pool) run from this image; the
# registry, logs and artifacts must then be shared URIs (s3://...), passed as job variables.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    MODELCTL_PROJECT_DIR=/opt/modelctl

WORKDIR /opt/modelctl
COPY requirements.lock ./
RUN python -m pip install -r requirements.lock
COPY . .
RUN python -m pip install --no-deps -e . && useradd --create-home modelctl && chown -R modelctl /opt/modelctl
USER modelctl

# A process worker inside the image (one container serving the pool); a Docker work pool instead starts
# one container per flow run from this image with Prefect's default command.
CMD ["prefect", "worker", "start", "--pool", "modelctl-process", "--type", "process"]
