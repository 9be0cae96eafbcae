# syntax=docker/dockerfile:1
# rrm xApp image: CPU PyTorch, the shipped checkpoints, a non-root user.
#   docker build -t rrm/rrm-xapp:0.1.0 .
#   docker run --rm -p 8080:8080 rrm/rrm-xapp:0.1.0 xapp run --e2-address HOST:50051
# The same image runs the simulator: `... rrm/rrm-xapp:0.1.0 sim serve --host 0.0.0.0`.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
# torch is pinned exactly (pyproject.toml); its CPU build comes from this index.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rrm ./rrm
RUN pip install . \
 && python -m compileall -q /opt/venv/lib
# The checkpoints move out of site-packages behind a symlink, so a volume
# mounted on /opt/rrm/checkpoints (chart: checkpoints.existingClaim) replaces them.
RUN site="$(python -c 'import rrm.models, pathlib; print(pathlib.Path(rrm.models.__file__).parent)')" \
 && mkdir -p /opt/rrm \
 && mv "$site/checkpoints" /opt/rrm/checkpoints \
 && ln -s /opt/rrm/checkpoints "$site/checkpoints" \
 && test -f /opt/rrm/checkpoints/gfm-small-sum/model.safetensors

FROM python:${PYTHON_VERSION}-slim AS runtime
LABEL org.opencontainers.image.title="rrm-xapp" \
      org.opencontainers.image.description="AI-native RRM xApp for an O-RAN near-RT RIC, with its RAN simulator" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 rrm \
 && useradd --system --uid 10001 --gid rrm --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin rrm
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/rrm /opt/rrm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1 \
    HOME=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib
# Numeric ids so Kubernetes' runAsNonRoot can check them.
USER 10001:10001
WORKDIR /tmp
# /ric/v1/health/alive, /ric/v1/health/ready and /metrics (health_port).
EXPOSE 8080
ENTRYPOINT ["rrm"]
CMD ["xapp", "run"]
