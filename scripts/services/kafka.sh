#!/usr/bin/env bash
# Start a single-node Apache Kafka (KRaft, combined broker+controller) for
# Pombo's tests. No Docker, no download of a Kafka tarball: the jars come from
# Maven Central through `mvn dependency:copy-dependencies` on a tiny generated
# pom, cached under $POMBO_SERVICES_DIR/kafka.
#
# Listeners (all on 127.0.0.1):
#   9092  PLAINTEXT       what most tests use
#   9093  CONTROLLER      KRaft controller (not for clients)
#   9094  SASL_SSL        SASL PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 over TLS
#   9095  SASL_PLAINTEXT  the same mechanisms without TLS
#   9096  SSL             TLS with a required client certificate (mutual TLS)
# The TLS material (a self-signed CA, the broker's certificate for 127.0.0.1 and
# localhost, a client certificate) and the SASL user's password are generated
# once into $POMBO_SERVICES_DIR/kafka/security/. They are test-only values for
# this local broker. security/test-client.json tells tests where everything is:
#   {username, password, mechanisms, ca, clientKey, clientCert,
#    plaintext, saslSsl, saslPlaintext, ssl}
# The user (`pombo-test`) exists for PLAIN (the broker's JAAS config) and for
# both SCRAM mechanisms (stored in the cluster metadata, added once per data dir
# through the plaintext listener).
#
# Idempotent: if the broker already answers on every listener, prints its
# addresses and exits 0. A broker of ours running with another configuration
# (e.g. the plaintext-only one of earlier versions of this script) is restarted
# with this one. The data dir is kept across stop/start and such restarts, so
# the cluster id, topics and offsets stay. Last line printed on success:
# `kafka 127.0.0.1:9092 sasl_ssl 127.0.0.1:9094 sasl_plaintext 127.0.0.1:9095 ssl 127.0.0.1:9096`.
#
# Env:
#   POMBO_SERVICES_DIR         cache root (default ~/.cache/pombo-services)
#   KAFKA_VERSION              org.apache.kafka version from Maven Central (default 4.1.2)
#   KAFKA_PORT                 plaintext client port (default 9092)
#   KAFKA_CONTROLLER_PORT      KRaft controller port (default 9093)
#   KAFKA_SASL_SSL_PORT        SASL over TLS (default 9094)
#   KAFKA_SASL_PLAINTEXT_PORT  SASL without TLS (default 9095)
#   KAFKA_MTLS_PORT            TLS with client certificates (default 9096)
#   KAFKA_HEAP_OPTS            default "-Xms256m -Xmx512m"
#   KAFKA_START_TIMEOUT        seconds to wait for readiness (default 120)
#
# Kafka's own tools run from the same classpath, e.g.:
#   java -cp "$POMBO_SERVICES_DIR/kafka/lib-4.1.2/jars/*" \
#     -Dlog4j2.configurationFile=file:$POMBO_SERVICES_DIR/kafka/tools-log4j2.properties \
#     org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list
set -euo pipefail

# shellcheck disable=SC2034 # used by log() in _lib.sh
SERVICE_NAME=kafka
# shellcheck source-path=SCRIPTDIR source=_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

HOST=127.0.0.1
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
SASL_SSL_PORT="${KAFKA_SASL_SSL_PORT:-9094}"
SASL_PLAINTEXT_PORT="${KAFKA_SASL_PLAINTEXT_PORT:-9095}"
MTLS_PORT="${KAFKA_MTLS_PORT:-9096}"
# 4.1.x: inside the range that the Node client @platformatic/kafka documents
# (3.5.0 - 4.1.0); 4.3.1 was also tested and works (KAFKA_VERSION=4.3.1).
VERSION="${KAFKA_VERSION:-4.1.2}"
TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
HEAP="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"

DIR="$SERVICES_ROOT/kafka"
LIB="$DIR/lib-$VERSION"
DATA="$DIR/data"
SECURITY="$DIR/security"
PIDFILE="$DIR/kafka.pid"
LOGFILE="$DIR/kafka.log"
READY="$SERVICES_SCRIPTS_DIR/kafka-ready.mjs"
# The test-only SASL user (PLAIN and SCRAM); its password is generated into $SECURITY/password.
SASL_USER=pombo-test

plaintext_ready() { port_open "$HOST" "$PORT" && node "$READY" "$HOST" "$PORT" 2>/dev/null; }
secured_listeners_open() {
  port_open "$HOST" "$SASL_SSL_PORT" && port_open "$HOST" "$SASL_PLAINTEXT_PORT" && port_open "$HOST" "$MTLS_PORT"
}
is_ready() { plaintext_ready && secured_listeners_open; }

done_ok() {
  ensure_scram_user
  write_test_client_file
  echo "kafka TLS CA $SECURITY/ca.pem, test-only SASL user $SASL_USER: $SECURITY/test-client.json"
  echo "kafka $HOST:$PORT sasl_ssl $HOST:$SASL_SSL_PORT sasl_plaintext $HOST:$SASL_PLAINTEXT_PORT ssl $HOST:$MTLS_PORT"
  exit 0
}

# openssl_quietly ARGS...: openssl with its chatter kept in $SECURITY/openssl.log, shown on failure.
openssl_quietly() {
  if ! openssl "$@" >>"$SECURITY/openssl.log" 2>&1; then
    tail -n 20 "$SECURITY/openssl.log" >&2
    die "openssl $1 failed"
  fi
}

# sign_certificate NAME SUBJECT EXTENSIONS: a new key NAME.key (PKCS#8) and NAME.crt signed by the test CA.
sign_certificate() {
  local name=$1 subject=$2 extensions=$3
  openssl_quietly req -new -newkey rsa:2048 -nodes -subj "$subject" -keyout "$SECURITY/$name.key" -out "$SECURITY/$name.csr"
  openssl_quietly x509 -req -in "$SECURITY/$name.csr" -CA "$SECURITY/ca.pem" -CAkey "$SECURITY/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile <(printf '%s\n' "$extensions") -out "$SECURITY/$name.crt"
  rm -f "$SECURITY/$name.csr"
}

# The test CA, the broker's certificate, a client certificate and the SASL password: made once, kept.
ensure_security_material() {
  mkdir -p "$SECURITY"
  chmod 700 "$SECURITY"
  if [[ ! -s $SECURITY/ca.pem || ! -s $SECURITY/ca.key ]]; then
    command -v openssl >/dev/null 2>&1 || die "openssl not found (needed once to make the test certificates)"
    log "making a test-only CA and certificates in $SECURITY"
    openssl_quietly req -x509 -new -newkey rsa:2048 -nodes -days 3650 -sha256 -subj "/CN=Pombo test Kafka CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$SECURITY/ca.key" -out "$SECURITY/ca.pem"
    # signed by a previous CA: make them again
    rm -f "$SECURITY/broker.pem" "$SECURITY/client.crt"
  fi
  if [[ ! -s $SECURITY/broker.pem ]]; then
    sign_certificate broker "/CN=localhost" $'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth'
    # Kafka's PEM key store: the private key, then the certificate chain.
    cat "$SECURITY/broker.key" "$SECURITY/broker.crt" >"$SECURITY/broker.pem.tmp"
    mv -f "$SECURITY/broker.pem.tmp" "$SECURITY/broker.pem"
  fi
  if [[ ! -s $SECURITY/client.crt || ! -s $SECURITY/client.key ]]; then
    sign_certificate client "/CN=pombo-test-client" "extendedKeyUsage=clientAuth"
  fi
  if [[ ! -s $SECURITY/password ]]; then
    (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '+/=\n' >"$SECURITY/password")
  fi
}

# The broker's configuration. Compared with the one a running broker was started with, so it must
# change whenever the broker should restart: the key store's digest is in it for that reason.
server_properties() {
  local password jaas_plain jaas_scram listener
  password=$(<"$SECURITY/password")
  jaas_plain="org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER=\"$password\";"
  jaas_scram="org.apache.kafka.common.security.scram.ScramLoginModule required;"
  cat <<EOF
# generated by scripts/services/kafka.sh
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT,SASL_SSL://$HOST:$SASL_SSL_PORT,SASL_PLAINTEXT://$HOST:$SASL_PLAINTEXT_PORT,SSL://$HOST:$MTLS_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT,SASL_SSL://$HOST:$SASL_SSL_PORT,SASL_PLAINTEXT://$HOST:$SASL_PLAINTEXT_PORT,SSL://$HOST:$MTLS_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
# after a crash (stop.sh kafka --kill) the restarted broker waits for its old
# registration to expire: keep that short (default 9s) for outage tests
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
log.retention.hours=24
log.segment.bytes=67108864
# SASL on SASL_SSL and SASL_PLAINTEXT, test-only user $SASL_USER: PLAIN checks the JAAS line below,
# SCRAM the credentials this script adds to the cluster metadata. No authorizer: any
# authenticated client may do anything.
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
EOF
  for listener in sasl_ssl sasl_plaintext; do
    echo "listener.name.$listener.plain.sasl.jaas.config=$jaas_plain"
    echo "listener.name.$listener.scram-sha-256.sasl.jaas.config=$jaas_scram"
    echo "listener.name.$listener.scram-sha-512.sasl.jaas.config=$jaas_scram"
  done
  cat <<EOF
# TLS on SASL_SSL and SSL, key store digest $(sha256sum <"$SECURITY/broker.pem" | cut -c1-16);
# SSL requires a client certificate signed by the test CA
ssl.keystore.type=PEM
ssl.keystore.location=$SECURITY/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$SECURITY/ca.pem
listener.name.ssl.ssl.client.auth=required
EOF
}

# SCRAM credentials live in the cluster metadata: added (or replaced) through the plaintext listener
# once per data dir (its directory.id) and password. One request per mechanism: the broker refuses
# two changes of one user's credentials in a request.
ensure_scram_user() {
  local stamp password mechanism
  stamp="$(sed -n 's/^directory.id=//p' "$DATA/meta.properties" 2>/dev/null) $(sha256sum <"$SECURITY/password" | cut -c1-16)"
  [[ "$(cat "$SECURITY/scram.applied" 2>/dev/null)" == "$stamp" ]] && return 0
  password=$(<"$SECURITY/password")
  for mechanism in SCRAM-SHA-256 SCRAM-SHA-512; do
    log "adding the $mechanism credentials of $SASL_USER"
    if ! "$(java_bin)" -Xmx256m -cp "$LIB/jars/*" -Dlog4j2.configurationFile="file:$DIR/tools-log4j2.properties" \
      kafka.admin.ConfigCommand --bootstrap-server "$HOST:$PORT" --alter --entity-type users --entity-name "$SASL_USER" \
      --add-config "$mechanism=[password=$password]" >"$DIR/scram.log" 2>&1; then
      sed 's/password=[^],]*/password=***/g' "$DIR/scram.log" | tail -n 20 >&2
      die "could not add the $mechanism credentials"
    fi
  done
  echo "$stamp" >"$SECURITY/scram.applied"
}

# Where tests find the listeners, the CA and the test-only credentials.
write_test_client_file() {
  local password
  password=$(<"$SECURITY/password")
  cat >"$SECURITY/test-client.json.tmp" <<EOF
{
  "comment": "test-only credentials and addresses of the local broker started by scripts/services/kafka.sh",
  "username": "$SASL_USER",
  "password": "$password",
  "mechanisms": ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"],
  "ca": "$SECURITY/ca.pem",
  "clientKey": "$SECURITY/client.key",
  "clientCert": "$SECURITY/client.crt",
  "plaintext": "$HOST:$PORT",
  "saslSsl": "$HOST:$SASL_SSL_PORT",
  "saslPlaintext": "$HOST:$SASL_PLAINTEXT_PORT",
  "ssl": "$HOST:$MTLS_PORT"
}
EOF
  mv -f "$SECURITY/test-client.json.tmp" "$SECURITY/test-client.json"
}

take_lock "$DIR"
ensure_security_material
CONFIG=$(server_properties)

# --- a broker of ours started with another configuration? -------------------
# e.g. the plaintext-only one of earlier versions of this script: restart it
# with this one (the data dir is kept).
if pid_alive "$PIDFILE" && ! printf '%s\n' "$CONFIG" | cmp -s - "$DIR/server.properties"; then
  log "the running broker (pid $(<"$PIDFILE")) was started with another configuration (e.g. without the SASL/SSL listeners): restarting it"
  stop_pidfile "$PIDFILE" 30 || true
  for _ in $(seq 1 50); do
    port_open "$HOST" "$PORT" || break
    sleep 0.1
  done
fi

# --- a broker this script did not start, without the secured listeners? ----
if ! pid_alive "$PIDFILE" && plaintext_ready && ! secured_listeners_open; then
  log "WARNING: the Kafka on $HOST:$PORT was not started by this script and has no SASL/SSL listeners (their tests will skip)"
  echo "kafka $HOST:$PORT"
  exit 0
fi

# --- already running? -------------------------------------------------------
exit_if_running "a ready Kafka broker"

if ! pid_alive "$PIDFILE"; then
  # --- jars ---------------------------------------------------------------
  JAVA=$(java_bin)
  command -v node >/dev/null 2>&1 || die "node not found (needed for the readiness probe)"
  POM=$(cat <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>pombo.services</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$VERSION</version></dependency>
    <!-- TopicCommand, ConsoleProducer, etc. for tests and debugging -->
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$VERSION</version></dependency>
    <!-- logging: Kafka 4 logs through slf4j 2 to log4j2 -->
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.17</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId><version>2.25.4</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.25.4</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.25.4</version></dependency>
  </dependencies>
</project>
EOF
)
  mvn_fetch_classpath "$LIB" "$POM"

  # --- config (rewritten every start, cheap) ------------------------------
  mkdir -p "$DATA"
  printf '%s\n' "$CONFIG" >"$DIR/server.properties"
  cat >"$DIR/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
EOF
  cat >"$DIR/tools-log4j2.properties" <<'EOF'
status = error
appender.err.type = Console
appender.err.name = ERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = ERR
EOF

  CP="$LIB/jars/*"
  LOG4J="-Dlog4j2.configurationFile=file:$DIR/log4j2.properties"

  # --- format storage once (keeps the same cluster id across restarts) -----
  # Data written by another Kafka version may not load (metadata.version can't
  # go down), so a version change starts from empty storage, same cluster id.
  if [[ -f $DATA/meta.properties && "$(cat "$DIR/data.version" 2>/dev/null)" != "$VERSION" ]]; then
    log "data dir was formatted by Kafka $(cat "$DIR/data.version" 2>/dev/null || echo '?'), now $VERSION: wiping $DATA"
    rm -rf "$DATA"
    mkdir -p "$DATA"
  fi
  if [[ ! -f $DATA/meta.properties ]]; then
    if [[ ! -s $DIR/cluster.id ]]; then
      # A Kafka Uuid: 16 random bytes, URL-safe base64 without padding.
      head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' >"$DIR/cluster.id"
    fi
    log "formatting $DATA with cluster id $(<"$DIR/cluster.id")"
    if ! "$JAVA" -Xmx256m -cp "$CP" -Dlog4j2.configurationFile="file:$DIR/tools-log4j2.properties" \
      kafka.tools.StorageTool format -t "$(<"$DIR/cluster.id")" -c "$DIR/server.properties" \
      >"$DIR/format.log" 2>&1; then
      cat "$DIR/format.log" >&2
      die "kafka storage format failed"
    fi
    echo "$VERSION" >"$DIR/data.version"
  fi

  # --- start ----------------------------------------------------------------
  # keep the log from growing without bound across many restarts
  if [[ -f $LOGFILE ]] && (($(stat -c %s "$LOGFILE") > 20 * 1024 * 1024)); then
    mv -f "$LOGFILE" "$LOGFILE.old"
  fi
  echo "==== $(date -Is) starting kafka $VERSION" >>"$LOGFILE"
  # shellcheck disable=SC2086
  start_detached "$PIDFILE" "$LOGFILE" \
    "$JAVA" $HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true "$LOG4J" -Dkafka.logs.dir="$DIR" \
    -cp "$CP" kafka.Kafka "$DIR/server.properties"
  log "started pid $(<"$PIDFILE"), waiting for $HOST:$PORT and the SASL/SSL listeners (log: $LOGFILE)"
else
  log "kafka pid $(<"$PIDFILE") is starting, waiting for $HOST:$PORT"
fi

# --- wait until ready ---------------------------------------------------------
wait_until_ready "kafka" 0.5
