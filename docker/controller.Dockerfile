# For hosts that can pull base images. Without a registry, scripts/build-service-images.sh
# builds an equivalent image FROM scratch from this machine's files.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p fleet-controller

FROM debian:bookworm-slim
COPY --from=build /src/target/release/fleet-controller /usr/local/bin/fleet-controller
USER 65534:65534
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/fleet-controller"]
CMD ["serve", "--bind", "0.0.0.0:8080"]
