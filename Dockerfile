# One Dockerfile, two images: the API, dashboard and migrations run on the CPU build of torch
# (small; they never import it), the workers on the CUDA build:
#   docker build -t liplab:cpu .
#   docker build -t liplab:cuda --build-arg TORCH_VARIANT=cuda .
# docker-compose.yml builds both. The CUDA build's wheels bring their own CUDA runtime; the
# machine needs only the NVIDIA driver and the NVIDIA Container Toolkit.
FROM python:3.11-slim
ARG TORCH_VARIANT=cpu
ARG TORCH_VERSION=2.13.0
WORKDIR /app
RUN case "$TORCH_VARIANT" in \
      cpu)  pip install --no-cache-dir "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu ;; \
      cuda) pip install --no-cache-dir "torch==$TORCH_VERSION" ;; \
      *)    echo "TORCH_VARIANT must be cpu or cuda, not '$TORCH_VARIANT'" >&2; exit 1 ;; \
    esac \
 && python -c "import sys, torch; cuda = torch.version.cuda is not None; \
sys.exit(0 if cuda == ('$TORCH_VARIANT' == 'cuda') else f'torch {torch.__version__} is not the $TORCH_VARIANT build')"
COPY pyproject.toml README.md ./
COPY lipcore lipcore
COPY server server
COPY worker worker
COPY dashboard dashboard
COPY liplab liplab
COPY migrations migrations
COPY configs configs
RUN pip install --no-cache-dir -e ".[s3]"
ENV LIPLAB_HOME=/data LIPLAB_TORCH_VARIANT=$TORCH_VARIANT
EXPOSE 8000 8050
