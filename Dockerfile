# Builds the one `cashflow` binary; every role runs from this image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p cashflow

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 cashflow
COPY --from=build /src/target/release/cashflow /usr/local/bin/cashflow
USER cashflow
EXPOSE 50051
ENTRYPOINT ["cashflow"]
CMD ["serve"]
