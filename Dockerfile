# rrm xApp image: CPU PyTorch, the shipped checkpoints, a non-root user.
#   make image                      (podman or docker, whichever is present; docs/deploy.md)
#   podman build -t rrm/rrm-xapp:0.1.0 .
#   podman run --rm -p 8080:8080 rrm/rrm-xapp:0.1.0 xapp run --e2-address HOST:50051
# The same image runs the simulator: `... rrm/rrm-xapp:0.1.0 sim serve --host 0.0.0.0`.
#
# Build arguments:
#   BASE             the base image: any Debian-like image with python3 (3.11) and python3-venv
#                    (`make base-image` makes one locally with mmdebstrap: no registry)
#   WHEELS           a directory of the build context holding every wheel (`make wheels`);
#                    when it holds any, everything installs from it alone (--no-index)
#   TORCH_INDEX_URL  an index for torch only (its CPU build); the rest uses pip's default
#                    index or INDEX_URL, never this one
# No `syntax=` line: the builder's own frontend is used, nothing is fetched for it.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
ARG WHEELS=wheels
ARG TORCH_INDEX_URL=
ARG INDEX_URL=
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY ${WHEELS}/ /wheels/
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rrm ./rrm
# torch is pinned exactly (pyproject.toml); with local wheels nothing leaves the build.
RUN set -eu; \
    if ls /wheels/*.whl >/dev/null 2>&1; then \
      pip install --no-index --find-links /wheels torch==2.13.0 "setuptools>=68"; \
      pip install --no-index --find-links /wheels --no-build-isolation /src; \
    else \
      pip install ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} torch==2.13.0; \
      pip install ${INDEX_URL:+--index-url "$INDEX_URL"} /src; \
    fi; \
    python -m compileall -q "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/rrm"
# The checkpoints move out of site-packages behind a symlink, so a volume mounted
# on /opt/rrm/checkpoints (chart: checkpoints.existingClaim) replaces them. Run
# from / in isolated mode: `import rrm.models` must find the installed package.
COPY docker/relocate_checkpoints.py /tmp/relocate_checkpoints.py
WORKDIR /
RUN python -I /tmp/relocate_checkpoints.py /opt/rrm/checkpoints \
 && test -L "$(python -I -c 'import rrm.models, pathlib; print(pathlib.Path(rrm.models.__file__).parent)')/checkpoints" \
 && test -f /opt/rrm/checkpoints/gfm-small-sum/model.safetensors

FROM ${BASE} AS runtime
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
