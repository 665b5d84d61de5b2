# syntax=docker/dockerfile:1
# Build: type-check, then bundle the controller into one file with the dev
# toolchain. The bundle carries only the parts of @kubernetes/client-node it
# uses: loading the whole generated API costs tens of MB of RSS for nothing.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY allocator/ allocator/
COPY gateway/ gateway/
COPY controller/ controller/
COPY cli/ cli/
RUN npm run build

# The bundle is the whole program: no node_modules in the image.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/dist ./dist
# The image's unprivileged user; the Deployment also pins runAsUser 65532.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "--enable-source-maps", "dist/sharedlb.mjs"]
CMD ["controller"]
