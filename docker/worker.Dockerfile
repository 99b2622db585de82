# For hosts that can pull base images. Without a registry, scripts/build-service-images.sh
# builds an equivalent image FROM scratch from this machine's files.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p fleet-worker \
 && cargo rustc --release --locked -p fleet-agent --bin fleet-agent --target-dir target/static \
      -- -C target-feature=+crt-static

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/fleet-worker /usr/local/bin/fleet-worker
COPY --from=build /src/target/static/release/fleet-agent /usr/local/bin/fleet-agent
# Root inside: the worker talks to the Docker socket and hands workspaces to the sandbox user.
ENTRYPOINT ["/usr/local/bin/fleet-worker"]
CMD ["run", "--definition", "all", "--definitions-dir", "/etc/fleet/definitions"]
