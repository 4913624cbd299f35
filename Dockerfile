# hashchat in a container. Build: docker build -t hashchat .
# Run (see README, "Docker"): chats.yaml mounted at /config/chats.yaml, the database and the
# recaps on the /data volume, the token from the environment:
#   docker run -d --name hashchat -v "$PWD/chats.yaml:/config/chats.yaml:ro" \
#     -v hashchat-data:/data -e HASHCHAT_TOKEN hashchat
# Plain Dockerfile syntax on purpose: it builds with Debian 12's docker.io 20.10, without BuildKit.

FROM rust:1-bookworm AS builder
WORKDIR /src
# Dependencies first, against stub sources, so that editing src/ reuses this layer. Cargo.toml
# names the [[bench]] targets, and cargo refuses a manifest whose targets are missing: the
# benches come along (a release build does not compile them).
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY . .
# touch: the stubs' build is newer than the real sources' checkout times.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && cp target/release/hashchat /usr/local/bin/hashchat

FROM debian:bookworm-slim
# CA certificates for HTTPS and WSS to the instance. Not pinned: the bookworm suite only takes
# security fixes, which a rebuild should pick up.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 hashchat \
    && useradd --system --uid 10001 --gid hashchat --home-dir /data --shell /usr/sbin/nologin hashchat \
    && mkdir -p /data /config \
    && chown hashchat:hashchat /data
COPY --from=builder /usr/local/bin/hashchat /usr/local/bin/hashchat
# The example chats.yaml, so `docker run hashchat check` and the demo dry run work unmounted;
# mount your own over it.
COPY chats.yaml /config/chats.yaml
# The CLI reads its global --config and --db defaults from these.
ENV HASHCHAT_CONFIG=/config/chats.yaml \
    HASHCHAT_DB=/data/hashchat.db
# The database and recaps/ (written relative to the working directory) live on the volume.
VOLUME ["/data"]
WORKDIR /data
# Numeric, so that runtimes enforcing non-root (runAsNonRoot) can verify it.
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/hashchat"]
CMD ["run"]
