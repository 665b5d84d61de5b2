# syntax=docker/dockerfile:1
# Build: compile TypeScript with the dev toolchain.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY allocator/ allocator/
COPY controller/ controller/
RUN npx tsc -p tsconfig.build.json

# Production dependencies only (no TypeScript, no pinned node binary).
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
# The image's unprivileged user; the Deployment also pins runAsUser 65532.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "dist/controller/cli.js"]
CMD ["controller"]
