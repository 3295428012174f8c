# nemotron-onnx-server: OpenAI-compatible server for Llama-3.1-Nemotron-70B-Instruct (chat) and -Reward on
# ONNX Runtime's CUDA execution provider.
#
#   docker build -t nemotron-onnx-server .
#   docker run --gpus all -p 8000:8000 -v /srv/models:/models:ro nemotron-onnx-server
#
# Stage "build": the node dependencies (production only; tsx runs the TypeScript sources at run time), then
# onnxruntime-node's CUDA 12 execution provider, fetched by onnxruntime-node's own install script (it needs
# network access at build time; `.npmrc` makes `npm ci` skip it, the explicit variable below wins).
# Stage "runtime": NVIDIA's CUDA 12.8 + cuDNN 9 runtime image (what ONNX Runtime 1.30's CUDA EP needs:
# CUDA 12.x and cuDNN 9), the node binary copied from the build stage, the app, a non-root user.
# Models are not in the image: mount them at /models (docs: deploy/kubernetes/README.md).

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so
COPY tsconfig.json ./
COPY src ./src

# CUDA 12.8 (Ampere, Hopper, Blackwell) + cuDNN 9 on Ubuntu 22.04. Needs an R570+ driver, or an older
# data-center branch that CUDA's compatibility allows (the image's NVIDIA_REQUIRE_CUDA lists them); for
# older drivers pick an older 12.x `-cudnn-runtime-` tag.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04 AS runtime
# Node 20 from the build stage: one binary (official builds need glibc >= 2.28 and libstdc++, both in the
# base). npm is not needed at run time: `pull` is a subcommand of the server entry (see below).
COPY --from=build /usr/local/bin/node /usr/local/bin/node
RUN groupadd --system --gid 10001 nemotron \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/nemotron --create-home --shell /usr/sbin/nologin nemotron \
 && mkdir -p /models \
 && chown 10001:10001 /models
WORKDIR /app
# Owned by root, read-only for the server user.
COPY --from=build /app /app

# Every flag has an environment variable (`--help` lists them); flags given as arguments win over these.
# The models are Hugging Face ids served from the hub cache on the volume (pulled there with
# `docker run … pull ORG/NAME`), or folders on the volume: MODEL=/models/instruct REWARD_MODEL=/models/reward.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    EXECUTION_PROVIDER=cuda \
    DEVICE_ID=0 \
    MODEL=/models/instruct \
    REWARD_MODEL=/models/reward \
    HF_HUB_CACHE=/models/hub \
    SHUTDOWN_GRACE=30 \
    LOG_LEVEL=info

USER 10001:10001
VOLUME ["/models"]
EXPOSE 8000
# SIGTERM starts the graceful shutdown (readiness turns 503, in-flight requests get SHUTDOWN_GRACE
# seconds); give `docker stop -t` more than SHUTDOWN_GRACE.
STOPSIGNAL SIGTERM
# Liveness only (/health answers as soon as the server listens, while the models still load; /ready says
# when they have). The base image has no curl: node's fetch does the request.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The server entry itself, not `npm start`: npm's prestart would build the random-weight demo models.
# One process (node with tsx's loader, no npm or tsx CLI in between), so signals reach the server directly.
# `docker run IMAGE --help` lists the flags; `docker run IMAGE pull ORG/NAME` is `npm run pull -- ORG/NAME`.
ENTRYPOINT ["node", "--import", "tsx", "src/main.ts"]
