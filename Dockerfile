# Multi-stage image. Build: node dependencies (CPU build of onnxruntime-node from npm, then the CUDA 12
# execution provider fetched by onnxruntime-node's own install script). Runtime: NVIDIA CUDA 12 + cuDNN 9.
# Models are mounted as a volume at /models.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js
COPY src ./src
COPY scripts ./scripts
COPY tsconfig.json ./

FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04 AS runtime
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=build /app /app
RUN useradd --system --uid 10001 --home /app server && mkdir -p /models && chown server /models
USER server
ENV HOST=0.0.0.0 PORT=8000 EXECUTION_PROVIDER=cuda
VOLUME ["/models"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "--import", "tsx", "src/main.ts"]
CMD ["--model", "/models/instruct", "--reward-model", "/models/reward"]
