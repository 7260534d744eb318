# One image recipe for both services (build arg SERVICE=requestor|processor), built from the
# repository root: `docker build -f infra/docker/service.Dockerfile --build-arg SERVICE=processor .`
# Node 24 runs the TypeScript sources directly (type stripping); protobuf code is generated here.
FROM node:24-bookworm AS build
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev zlib1g-dev libzstd-dev liblz4-dev libsasl2-dev libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY requestor/package.json requestor/
COPY processor/package.json processor/
# The `node` dev dependency is the toolchain for bare-metal installs; the image already has Node 24.
RUN CKJS_LINKING=dynamic npm install --omit=dev --no-audit --no-fund \
 && npm install --no-save --no-audit --no-fund @bufbuild/buf@1.75.0 ts-proto@2.18.0
COPY proto proto
COPY scripts/generate-proto.sh scripts/
COPY shared shared
RUN bash scripts/generate-proto.sh
COPY requestor requestor
COPY processor processor
COPY demo demo
# The web console (served by the requestor under /console).
COPY console console
RUN npm run -w @dcent/console build

FROM node:24-bookworm-slim
ARG SERVICE
ENV NODE_ENV=production SERVICE=${SERVICE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 zlib1g libzstd1 liblz4-1 libsasl2-2 libcurl4 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app /app
USER node
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "exec node ${SERVICE}/src/main.ts"]
