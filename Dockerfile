# Handoff's HTTP server (`handoff serve`) in a container. Build with `docker build -t handoff .`, or let
# docker-compose.yml build it and run it beside PostgreSQL: `docker compose up -d`.

# Build stage: the Swift toolchain, libpq's headers and a release build of the `handoff` executable.
FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN swift build -c release --product handoff \
    && bin="$(swift build -c release --show-bin-path)" \
    && mkdir -p /out \
    && cp "$bin/handoff" /out/handoff \
    && cp -R "$bin/Handoff_HandoffHTTP.resources" /out/Handoff_HandoffHTTP.resources

# Runtime stage: the Swift runtime libraries, libpq, Graphviz (the dashboard draws flows with `dot`), the
# executable with its resource bundle (the API document, the dashboard's templates and assets) beside it, and the
# migrations and workflows it reads from its working directory.
FROM swift:6.3-bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 graphviz \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /out/handoff /app/handoff
COPY --from=build /out/Handoff_HandoffHTTP.resources /app/Handoff_HandoffHTTP.resources
COPY db /app/db
COPY workflows /app/workflows
ENV HANDOFF_HOST=0.0.0.0 HANDOFF_PORT=8080
EXPOSE 8080
CMD ["./handoff", "serve"]
