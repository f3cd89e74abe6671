# Worker image: hpsearch on a CUDA build of PyTorch. The same image runs on CPU-only hosts
# (torch falls back to the CPU when no GPU is visible; `--device auto` picks it).
FROM pytorch/pytorch:2.7.1-cuda12.6-cudnn9-runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HPSEARCH_ARTIFACTS=/artifacts \
    HF_HOME=/home/hpsearch/.cache/huggingface

# Install the project itself (no dev extras); the base image already has CUDA torch, which
# satisfies the torch requirement, so pip keeps it.
COPY pyproject.toml README.md /tmp/hpsearch/
COPY search /tmp/hpsearch/search
COPY objectives /tmp/hpsearch/objectives
COPY storage /tmp/hpsearch/storage
RUN pip install --no-cache-dir "/tmp/hpsearch[dashboard]" && rm -rf /tmp/hpsearch

# Non-root user; the folders that compose mounts named volumes on are created here so the
# volumes start out owned by that user.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin hpsearch \
    && mkdir -p /artifacts /config /data "$HF_HOME" \
    && chown -R hpsearch:hpsearch /artifacts /home/hpsearch
USER hpsearch
WORKDIR /home/hpsearch

# Only the dashboard listens (`hpsearch dashboard --host 0.0.0.0` inside the container);
# compose publishes it on 127.0.0.1 of the host.
EXPOSE 8080

ENTRYPOINT ["hpsearch"]
CMD ["--help"]
