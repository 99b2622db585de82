# The demo agent image, for hosts that can pull: busybox plus the static fleet-agent helper and
# the scripted demo agents. scripts/build-images.sh builds the same FROM scratch locally.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo rustc --release --locked -p fleet-agent --bin fleet-agent --target-dir target/static \
      -- -C target-feature=+crt-static

FROM busybox:stable-musl
COPY --from=build /src/target/static/release/fleet-agent /bin/fleet-agent
COPY images/agent/agents/ /opt/fleet/agents/
ENV PATH=/fleet/bin:/bin
USER 65534:65534
WORKDIR /workspace
