# One image for api, worker and dashboard (the command differs). For GPUs, build with
#   docker build --build-arg TORCH_SPEC=torch .
FROM python:3.11-slim
ARG TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
WORKDIR /app
COPY pyproject.toml README.md ./
COPY lipcore lipcore
COPY server server
COPY worker worker
COPY dashboard dashboard
COPY liplab liplab
COPY migrations migrations
COPY configs configs
RUN pip install --no-cache-dir $TORCH_SPEC && pip install --no-cache-dir -e .
ENV LIPLAB_HOME=/data
EXPOSE 8000 8050
