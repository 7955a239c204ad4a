# One image for the local Spark standalone cluster (master, workers) and the job runner (driver),
# with the stack of the development venv: Python 3.11, OpenJDK 17, and pyspark and every other
# Python package at the versions pinned by pyproject.toml and requirements.lock (never restated
# here). docker-compose.yml runs it; `docker build -t lakehouse:dev .` builds it alone.
# RUN --mount needs BuildKit, the default builder of current Docker and of `docker compose`.
FROM python:3.11-slim-bookworm

ARG DEBIAN_FRONTEND=noninteractive

# Java 17 (a JDK: setup compiles jars/src) for Spark, Maven to resolve jars/pom.xml, procps for ps.
# JAVA_HOME gets an architecture-independent path: the package installs to
# /usr/lib/jvm/java-17-openjdk-<amd64|arm64|...>.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jdk-headless maven procps \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s "/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)" /usr/lib/jvm/java-17 \
 && /usr/lib/jvm/java-17/bin/java -version

# SPARK_HOME is the pip pyspark itself (its bin/ has spark-class and spark-submit), so that the
# cluster and the driver run the very same Spark.
ENV JAVA_HOME=/usr/lib/jvm/java-17 \
    SPARK_HOME=/usr/local/lib/python3.11/site-packages/pyspark \
    SPARK_WORKER_DIR=/tmp/spark-worker \
    PYSPARK_PYTHON=python3 \
    LAKEHOUSE_ROOT=/lakehouse/data \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
ENV PATH="${SPARK_HOME}/bin:${PATH}"

WORKDIR /opt/lakehouse

# Third-party Python packages first, in a layer that only changes with the pins: the
# dependencies listed in pyproject.toml, constrained to the versions of requirements.lock.
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
 && pip install --no-cache-dir -c requirements.lock -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt
COPY jars/pom.xml jars/pom.xml
COPY jars/src/ jars/src/

# The package itself, editable so that /opt/lakehouse is what runs (README.md* may not exist).
COPY pyproject.toml README.md* ./
COPY lakehouse/ lakehouse/
COPY jobs/ jobs/
COPY conf/ conf/
RUN pip install --no-cache-dir -c requirements.lock -e . \
 && lakehouse --help > /dev/null

# The JVM jars (Delta, SynapseML, hadoop-azure) into jars/lib, plus pyspark/conf/spark-defaults.conf
# naming them. Maven's download cache stays in a BuildKit cache, out of the image, so a rebuild
# after a code change resolves again without downloading again.
RUN --mount=type=cache,target=/opt/lakehouse/.cache/maven \
    lakehouse jars resolve

# Run as a non-root user. The lakehouse root is created here, owned by that user, so that the
# named volume mounted over it starts with this owner; /opt/lakehouse itself (not recursively)
# too, so that jobs can create files next to the project.
RUN useradd --create-home --uid 1000 --user-group lakehouse \
 && mkdir -p /lakehouse/data \
 && chown lakehouse:lakehouse /lakehouse/data /opt/lakehouse
USER lakehouse

# Master RPC and web UI, worker web UI, driver web UI.
EXPOSE 7077 8080 8081 4040

CMD ["lakehouse", "--help"]
