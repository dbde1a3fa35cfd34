# Builds the one `cashflow` binary and the browser app it serves; every role runs from this image.

# The browser app (web/, ADRs 0025 and 0026): clients generated from proto/ by buf, type-checked,
# bundled by Vite into web/dist. Only the files the build reads are copied, so a host's
# node_modules never reaches it (a host's src/gen does, and buf generate cleans it); npm ci
# installs exactly package-lock.json.
FROM node:22-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY proto /src/proto
COPY web/buf.gen.yaml web/index.html web/tsconfig.json web/vite.config.ts ./
COPY web/proto ./proto
COPY web/src ./src
RUN npm run build

FROM rust:1.95-bookworm AS build
# libtesseract and clang for the OCR binding (bindgen).
RUN apt-get update && apt-get install -y --no-install-recommends libtesseract-dev libleptonica-dev clang libclang-dev \
    pkg-config && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p cashflow

FROM debian:bookworm-slim
# The OCR role needs tesseract with English and Spanish data, and poppler for PDFs. The reports
# role embeds DejaVu Sans (regular and bold, from /usr/share/fonts/truetype/dejavu) in its PDFs
# and refuses to start without it (crates/reports/src/render/fonts.rs).
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tesseract-ocr tesseract-ocr-eng \
    tesseract-ocr-spa poppler-utils fonts-dejavu-core && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 cashflow && useradd --system --uid 10001 --gid 10001 cashflow
COPY --from=build /src/target/release/cashflow /usr/local/bin/cashflow
# Served at / on the gRPC port; the default (web/dist) is relative to the working directory.
COPY --from=web /src/web/dist /usr/share/cashflow/web
ENV CASHFLOW_WEB_DIR=/usr/share/cashflow/web
RUN mkdir -p /var/lib/cashflow/blobs && chown cashflow /var/lib/cashflow/blobs
ENV CASHFLOW_BLOB_URL=file:///var/lib/cashflow/blobs
# libtesseract's OpenMP threads would compete with the OCR pool's own (ADR 0007).
ENV OMP_THREAD_LIMIT=1
# Numeric, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
EXPOSE 50051
ENTRYPOINT ["cashflow"]
CMD ["serve"]
