#!/bin/bash
# Throwaway 3-node RabbitMQ cluster on 127.0.0.1 with an MQTT-over-TLS listener
# per node and client-certificate login (username = certificate CN).
#
#   rabbitmq_cluster.sh start DIR   -> prints KEY=VALUE lines (ports, certs, nodes)
#   rabbitmq_cluster.sh stop DIR    -> graceful stop (rabbitmqctl stop), kill -9 leftovers,
#                                      stop the private epmd
#   rabbitmq_cluster.sh ctl DIR N ARGS...   -> rabbitmqctl against node N (1..3)
#   rabbitmq_cluster.sh kill9 DIR N         -> kill -9 node N's beam process
#   rabbitmq_cluster.sh restart DIR N       -> start node N again (after kill9/stop)
#
# Environment knobs:
#   RMQ_BASE_PORT    (default 27000)  ports: epmd=BASE, node i: amqp=BASE+10i+1,
#                                     dist=BASE+10i+2, mqtts=BASE+10i+3
#   RMQ_QUEUE_TYPE   classic|quorum (default quorum): queue type of the durable
#                    per-client QoS1 session queue (clean_session=false);
#                    rabbitmq_mqtt app env 'durable_queue_type' (advanced.config)
#   RMQ_RABBIT_HOME  (default /usr/lib/rabbitmq/lib/rabbitmq_server-3.10.8)
#
#   RMQ_CA, RMQ_SERVER_CERT, RMQ_SERVER_KEY  the PKI to use (the tests' per-run PKI);
#                    unset: a throwaway CA is generated under DIR/certs (see gen_certs)
#   RMQ_GATEWAYS     (default "gw-001 gw-002") users that are gateways: certificate login
#                    only, each may write fluxprint/<cn>/# and read fluxprint/<cn>/cmd/#
#   RMQ_BACKEND      (default cloud-backend) the backend's user: every topic
#
# Generated certificates (throwaway CA, 30 days) under DIR/certs: server (CN=localhost, SAN
# localhost/127.0.0.1), clients CN=gw-001, gw-002, cloud-backend (users exist, no password),
# CN=stranger (no user -> CONNACK 4) and rogue (CN=gw-001 signed by an untrusted CA).
# Use a fresh DIR per run. Adapted from ../shared/peers/rabbitmq/ (README.md there has the
# observations this is built on; docs/fleet.md has what they mean for the gateway).
#
# Tested with Debian 12 rabbitmq-server 3.10.8-1.1+deb12u1 / Erlang 25.2.3.
# Runs as the calling user (root is fine); never touches /etc/rabbitmq or
# /var/lib/rabbitmq, never uses the default ports or the shared epmd on 4369.
set -euo pipefail

CMD=${1:-}; DIR=${2:-}
[ -n "$CMD" ] && [ -n "$DIR" ] || { echo "usage: $0 start|stop|ctl|kill9|restart DIR [...]" >&2; exit 2; }
DIR=$(mkdir -p "$DIR" && cd "$DIR" && pwd)

RHOME=${RMQ_RABBIT_HOME:-$(ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-* 2>/dev/null | sort -V | tail -1)}
SBIN=$RHOME/sbin
BASE=${RMQ_BASE_PORT:-$(cat "$DIR/base_port" 2>/dev/null || echo 27000)}
QTYPE=${RMQ_QUEUE_TYPE:-quorum}
GATEWAYS=${RMQ_GATEWAYS:-gw-001 gw-002}
BACKEND=${RMQ_BACKEND:-cloud-backend}
CA=${RMQ_CA:-$DIR/certs/ca.pem}
SERVER_CERT=${RMQ_SERVER_CERT:-$DIR/certs/server.pem}
SERVER_KEY=${RMQ_SERVER_KEY:-$DIR/certs/server.key}
EPMD_PORT=$BASE
NODES=(1 2 3)

node_name() { echo "rabbit$1@localhost"; }
amqp_port() { echo $((BASE + 10 * $1 + 1)); }
dist_port() { echo $((BASE + 10 * $1 + 2)); }
mqtts_port() { echo $((BASE + 10 * $1 + 3)); }

# Environment shared by server and CLI: private cookie (HOME) and private epmd.
common_env() {
  export HOME="$DIR/home"
  export ERL_EPMD_PORT=$EPMD_PORT
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_CONF_ENV_FILE="$DIR/rabbitmq-env.conf"   # (empty) keep /etc out
}

ctl() { # ctl N args...
  local n=$1; shift
  # enabled_plugins file lets the CLI find plugin commands (list_mqtt_connections)
  ( common_env; export RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/n$n/enabled_plugins"
    "$SBIN/rabbitmqctl" -q -n "$(node_name "$n")" "$@" )
}

gen_certs() {
  local c="$DIR/certs"
  [ -n "${RMQ_CA:-}" ] && return 0   # the caller brings its PKI
  [ -f "$c/ca.pem" ] && return 0
  mkdir -p "$c"; cd "$c"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=rmq-test-ca" \
    -keyout ca.key -out ca.pem -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  mk() { # name CN ext
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
    printf '%s\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
  }
  mk server localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
  for cn in gw-001 gw-002 cloud-backend stranger; do
    mk "$cn" "$cn" "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
  done
  # a client cert from a different (untrusted) CA
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=rogue-ca" \
    -keyout rogue-ca.key -out rogue-ca.pem 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=gw-001" -keyout rogue.key -out rogue.csr 2>/dev/null
  openssl x509 -req -in rogue.csr -CA rogue-ca.pem -CAkey rogue-ca.key -CAcreateserial \
    -days 30 -out rogue.pem 2>/dev/null
  rm -f rogue.csr
  chmod 600 ./*.key
  cd - >/dev/null
}

write_definitions() {
  local u sep
  {
    echo '{"vhosts": [{"name": "/"}],'
    echo ' "users": ['
    for u in $GATEWAYS $BACKEND; do
      echo "  {\"name\": \"$u\", \"password_hash\": \"\", \"hashing_algorithm\": \"rabbit_password_hashing_sha256\", \"tags\": []},"
    done | sed '$ s/,$//'
    echo ' ],'
    echo ' "permissions": ['
    for u in $GATEWAYS; do
      # gateways may only create/use their own session queues (mqtt-subscription-<client id>qos0/1)
      echo "  {\"user\": \"$u\", \"vhost\": \"/\", \"configure\": \"^mqtt-subscription-$u\", \"write\": \"^(amq\\\\.topic|mqtt-subscription-$u.*)\$\", \"read\": \"^(amq\\\\.topic|mqtt-subscription-$u.*)\$\"},"
    done
    echo "  {\"user\": \"$BACKEND\", \"vhost\": \"/\", \"configure\": \".*\", \"write\": \".*\", \"read\": \".*\"}],"
    # topic permissions act on AMQP routing keys (MQTT '/' -> '.', '+' -> '*'); {username} is expanded.
    # The gateway contract: a gateway writes fluxprint/<id>/... and reads fluxprint/<id>/cmd/...
    echo ' "topic_permissions": ['
    for u in $GATEWAYS; do
      echo "  {\"user\": \"$u\", \"vhost\": \"/\", \"exchange\": \"amq.topic\", \"write\": \"^fluxprint\\\\.{username}(\\\\..*)?\$\", \"read\": \"^fluxprint\\\\.{username}\\\\.cmd(\\\\..*)?\$\"},"
    done | sed '$ s/,$//'
    echo ' ]}'
  } > "$DIR/definitions.json"
}

write_node_conf() { # N
  local n=$1 d="$DIR/n$1"
  mkdir -p "$d/mnesia" "$d/log"
  cat > "$d/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$(amqp_port "$n")
loopback_users.guest = true
log.file.level = info
log.console = false
vm_memory_high_watermark.relative = 0.2
disk_free_limit.absolute = 50MB
cluster_partition_handling = pause_minority
# users (= certificate CNs, no password), permissions, topic permissions
load_definitions = $DIR/definitions.json

ssl_options.cacertfile = $CA
ssl_options.certfile   = $SERVER_CERT
ssl_options.keyfile    = $SERVER_KEY
ssl_options.verify     = verify_peer
ssl_options.fail_if_no_peer_cert = true
ssl_cert_login_from = common_name
auth_mechanisms.1 = PLAIN
auth_mechanisms.2 = AMQPLAIN
auth_mechanisms.3 = EXTERNAL

mqtt.listeners.tcp = none
mqtt.listeners.ssl.default = 127.0.0.1:$(mqtts_port "$n")
mqtt.ssl_cert_login = true
mqtt.allow_anonymous = false
mqtt.vhost = /
mqtt.exchange = amq.topic
mqtt.subscription_ttl = 86400000
mqtt.prefetch = 10
EOF
  if [ "$n" != 1 ]; then
    # nodes 2 and 3 join rabbit1 while booting; they are started only once rabbit1 is up
    # (booting all three at once with peer discovery deadlocks on the discovery lock for
    # minutes). Fallback: explicit join_cluster in 'start'.
    cat >> "$d/rabbitmq.conf" <<EOF
cluster_formation.peer_discovery_backend = classic_config
cluster_formation.classic_config.nodes.1 = $(node_name 1)
cluster_formation.discovery_retry_limit = 30
cluster_formation.discovery_retry_interval = 1000
EOF
  fi
  cat > "$d/advanced.config" <<EOF
[{rabbitmq_mqtt, [{durable_queue_type, $QTYPE}]}].
EOF
  echo '[rabbitmq_mqtt,rabbitmq_auth_mechanism_ssl].' > "$d/enabled_plugins"
}

start_node() { # N  (background; returns immediately)
  local n=$1 d="$DIR/n$1"
  (
    common_env
    export RABBITMQ_NODENAME=$(node_name "$n")
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT=$(amqp_port "$n")
    export RABBITMQ_DIST_PORT=$(dist_port "$n")
    export RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf"
    export RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins"
    export RABBITMQ_MNESIA_BASE="$d/mnesia"
    export RABBITMQ_LOG_BASE="$d/log"
    export RABBITMQ_PID_FILE="$d/beam.pid"
    # loopback-only distribution; no scheduler busy-waiting (3 VMs on few cores)
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none"
    cd "$d"
    setsid nohup "$SBIN/rabbitmq-server" > "$d/stdout.log" 2>&1 < /dev/null &
    echo $! > "$d/wrapper.pid"
  )
}

wait_node() { # N
  local n=$1 d="$DIR/n$1" i
  for i in $(seq 1 120); do [ -s "$d/beam.pid" ] && break; sleep 0.5; done
  ctl "$n" wait --timeout 120 "$d/beam.pid" >/dev/null
}

case "$CMD" in
start)
  t0=$(date +%s.%N)
  echo "$BASE" > "$DIR/base_port"
  mkdir -p "$DIR/home"; : > "$DIR/rabbitmq-env.conf"
  if [ ! -f "$DIR/home/.erlang.cookie" ]; then
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DIR/home/.erlang.cookie"
    chmod 400 "$DIR/home/.erlang.cookie"
  fi
  gen_certs
  write_definitions
  ( common_env; epmd -port "$EPMD_PORT" -address 127.0.0.1 -daemon )
  for n in "${NODES[@]}"; do write_node_conf "$n"; rm -f "$DIR/n$n/beam.pid"; done
  start_node 1; wait_node 1
  start_node 2; start_node 3; wait_node 2; wait_node 3
  t1=$(date +%s.%N)
  # normally nodes 2/3 already joined via classic_config peer discovery; join explicitly otherwise
  running=$(ctl 1 eval 'rabbit_nodes:all_running().' 2>/dev/null || true)
  for n in 2 3; do
    case "$running" in *"$(node_name "$n")"*) continue ;; esac
    echo "note: $(node_name "$n") not clustered after boot, joining explicitly" >&2
    ctl "$n" stop_app >/dev/null
    ctl "$n" reset >/dev/null
    ctl "$n" join_cluster "$(node_name 1)" >/dev/null
    ctl "$n" start_app >/dev/null
  done
  t2=$(date +%s.%N)
  echo "RMQ_VERSION=$(basename "$RHOME" | sed 's/rabbitmq_server-//')"
  echo "RMQ_DIR=$DIR"
  echo "RMQ_QUEUE_TYPE=$QTYPE"
  echo "RMQ_EPMD_PORT=$EPMD_PORT"
  for n in "${NODES[@]}"; do
    echo "RMQ_NODE${n}=$(node_name "$n")"
    echo "RMQ_NODE${n}_MQTTS_PORT=$(mqtts_port "$n")"
    echo "RMQ_NODE${n}_AMQP_PORT=$(amqp_port "$n")"
    echo "RMQ_NODE${n}_DIST_PORT=$(dist_port "$n")"
    echo "RMQ_NODE${n}_PID=$(cat "$DIR/n$n/beam.pid")"
  done
  echo "RMQ_MQTTS_PORTS=$(mqtts_port 1),$(mqtts_port 2),$(mqtts_port 3)"
  echo "RMQ_HOST=127.0.0.1"
  echo "RMQ_CA=$CA"
  echo "RMQ_SERVER_CERT=$SERVER_CERT"
  echo "RMQ_SERVER_KEY=$SERVER_KEY"
  [ -n "${RMQ_CA:-}" ] || for cn in gw-001 gw-002 cloud-backend stranger rogue; do
    k=$(echo "$cn" | tr 'a-z-' 'A-Z_')
    echo "RMQ_CLIENT_${k}_CERT=$DIR/certs/$cn.pem"
    echo "RMQ_CLIENT_${k}_KEY=$DIR/certs/$cn.key"
  done
  echo "RMQ_CTL_ENV=HOME=$DIR/home ERL_EPMD_PORT=$EPMD_PORT $SBIN/rabbitmqctl"
  awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN{printf "RMQ_BOOT_SECONDS=%.1f\nRMQ_CLUSTER_SECONDS=%.1f\n", b-a, c-a}'
  ;;
ctl)
  n=$3; shift 3; ctl "$n" "$@" ;;
kill9)
  n=$3; kill -9 "$(cat "$DIR/n$n/beam.pid")"; echo "killed $(node_name "$n") pid $(cat "$DIR/n$n/beam.pid")" ;;
restart)
  n=$3; rm -f "$DIR/n$n/beam.pid"; start_node "$n"; wait_node "$n"; echo "RMQ_NODE${n}_PID=$(cat "$DIR/n$n/beam.pid")" ;;
stop)
  # stop nodes 3,2,1 gracefully; then make sure nothing we started remains
  for n in 3 2 1; do
    [ -s "$DIR/n$n/beam.pid" ] || continue
    pid=$(cat "$DIR/n$n/beam.pid")
    kill -0 "$pid" 2>/dev/null || continue
    timeout 60 "$0" ctl "$DIR" "$n" stop >/dev/null 2>&1 || true
    for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  done
  for n in 1 2 3; do  # the sh wrappers exit when their beam exits
    [ -s "$DIR/n$n/wrapper.pid" ] || continue
    w=$(cat "$DIR/n$n/wrapper.pid")
    for i in $(seq 1 20); do kill -0 "$w" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$w" 2>/dev/null && kill "$w" 2>/dev/null || true
  done
  ( common_env; epmd -port "$EPMD_PORT" -kill >/dev/null 2>&1 || true )
  echo "stopped"
  ;;
*) echo "unknown command $CMD" >&2; exit 2 ;;
esac
