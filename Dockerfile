# voice_agent image: built by the same install script CI runs (scripts/setup.sh),
# so what CI proves is what the image runs. tests/unit/test_dockerfile.py keeps
# the apt packages here in lock-step with the script's.
#   docker build -t voice-agent .
#   docker run -p 8080:8080 voice-agent            # bundled CPU models
#   docker compose up                               # with a vLLM GPU server (compose.yaml)

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: compilers, the portable llama.cpp build, the venv and the bundled models
FROM ${PYTHON_IMAGE} AS build
# The apt packages scripts/setup.sh installs (its apt_packages, without VA_DEV).
ARG SETUP_APT_PACKAGES="build-essential cmake libportaudio2"
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${SETUP_APT_PACKAGES} \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY scripts ./scripts
COPY voice_agent ./voice_agent
COPY web ./web
# setup.sh builds llama-cpp-python for a portable AVX2 baseline (never -march=native,
# which would die with SIGILL on another host), installs the models and ends with
# `voice-agent doctor`: an image whose models do not load fails to build.
RUN VA_SKIP_APT=1 bash scripts/setup.sh \
 && find .venv -name '__pycache__' -prune -exec rm -rf {} + \
 && rm -rf /root/.cache

# ---- runtime: no compilers; the same venv at the same path (its scripts hold absolute paths)
FROM ${PYTHON_IMAGE} AS runtime
# Runtime libraries of the build stage's packages: PortAudio, and OpenMP for llama.cpp.
ARG RUNTIME_APT_PACKAGES="libportaudio2 libgomp1"
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${RUNTIME_APT_PACKAGES} \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /home/agent agent
WORKDIR /app
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/home/agent
USER agent
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/metrics', timeout=4)"]
CMD ["voice-agent", "serve", "--host", "0.0.0.0", "--port", "8080"]
