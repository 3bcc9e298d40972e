# syntax=docker/dockerfile:1
# Images for docker-compose.yml. Two targets:
#   flink      the official Flink 2.2 image (Java 17) + Python + apache-flink + clickflow, with
#              clickflow's one jar in lib/ (its Kinesis connector and functions: the jar the tests run,
#              byte for byte) and the S3 filesystem plugin enabled (the pinned plugin `clickflow
#              cluster` uses)
#   kinesis    kinesalite (the same Kinesis emulator and patch as the embedded stack)
# Run `make setup` first: it builds the jar with Maven and puts it and the pinned S3 plugin in
# connectors/build/, which this file copies (the image downloads no jar). Versions are pinned here
# and nowhere else in this file; tests/unit/test_compose.py holds them to pyproject.toml
# (apache-flink) and connectors/official.py (the plugin and its checksum).

ARG FLINK_IMAGE=flink:2.2.1-java17

FROM node:20-bookworm-slim AS kinesis
WORKDIR /opt/kinesis
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error
COPY connectors/local_stack/kinesis_server.js ./
# 0.0.0.0 inside the container only; docker-compose.yml publishes the port on the host's 127.0.0.1
CMD ["node", "kinesis_server.js", "4567", "0.0.0.0"]

FROM ${FLINK_IMAGE} AS flink
ARG APACHE_FLINK_SPEC="apache-flink==2.2.*"
ARG S3_FS_VERSION=2.2.0
ARG S3_FS_SHA256=fe14908b4d04c2fb199bf5c9dddfa80fd6b64d7a6decb3cc8826e644c5449262
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --no-cache-dir "${APACHE_FLINK_SPEC}"
# clickflow's one jar (connector + functions, AWS SDK shaded), as `make setup` built it, into lib/
COPY connectors/build/clickflow-flink.jar /opt/flink/lib/clickflow-flink.jar
# The S3 filesystem plugin, the pinned jar `clickflow cluster` uses; a plugin is enabled by its own folder
COPY connectors/build/flink-s3-fs-hadoop-${S3_FS_VERSION}.jar /tmp/
RUN set -eu; \
    jar=flink-s3-fs-hadoop-$S3_FS_VERSION.jar; \
    echo "$S3_FS_SHA256  /tmp/$jar" | sha256sum -c -; \
    mkdir -p /opt/flink/plugins/s3-fs-hadoop; \
    mv /tmp/$jar /opt/flink/plugins/s3-fs-hadoop/$jar
# Flink's own SQL client and gateway come with the distribution; fail the build if they do not
RUN test -x /opt/flink/bin/sql-client.sh && test -x /opt/flink/bin/sql-gateway.sh \
 && ls /opt/flink/opt/flink-sql-gateway-*.jar /opt/flink/opt/flink-sql-client-*.jar
# clickflow itself: the producer, `clickflow stack create`, and the job's SQL
COPY pyproject.toml README.md /opt/clickflow/
COPY clickflow /opt/clickflow/clickflow
COPY connectors /opt/clickflow/connectors
COPY jobs /opt/clickflow/jobs
COPY producer /opt/clickflow/producer
COPY sql /opt/clickflow/sql
# editable: the job finds sql/ and the profiles where they were copied
RUN pip install --no-cache-dir -e /opt/clickflow && chown -R flink:flink /opt/clickflow
USER flink
