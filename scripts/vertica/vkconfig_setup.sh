#!/usr/bin/env bash
# Vertica-native Kafka loading with the vkconfig scheduler: polygon.trades -> polygon_trades_raw (flex),
# continuously, offsets kept by the scheduler (exactly-once into the landing table); then promote_trades.sql
# moves rows into market_data with the dedupe rule. The alternative to `microstructure load`.
#
# Prerequisites: a Vertica user that may create and write the landing table (landing_table.sql, run below),
# vsql, vkconfig (/opt/vertica/packages/kafka/bin/vkconfig, or the opentext/kafka-scheduler image).
# Usage: VERTICA_HOST=vertica KAFKA_BROKERS=kafka:9092 scripts/vertica/vkconfig_setup.sh && vkconfig launch --conf ...
set -euo pipefail

VKCONFIG=${VKCONFIG:-/opt/vertica/packages/kafka/bin/vkconfig}
CONF=${VKCONFIG_CONF:-$(mktemp -d)/vkconfig.conf}
TOPIC=${KAFKA_TRADES_TOPIC:-polygon.trades}
PARTITIONS=${KAFKA_PARTITIONS:-4}
VSQL=${VSQL:-/opt/vertica/bin/vsql}

cat > "$CONF" <<CONF
username=${VERTICA_USER:-dbadmin}
password=${VERTICA_PASS:-}
dbhost=${VERTICA_HOST:?set VERTICA_HOST}
dbport=${VERTICA_PORT:-5433}
config-schema=microstructure_scheduler
CONF

VSQL_LOGIN=(-h "$VERTICA_HOST" -p "${VERTICA_PORT:-5433}" -U "${VERTICA_USER:-dbadmin}" -w "${VERTICA_PASS:-}")
"$VSQL" "${VSQL_LOGIN[@]}" -f "$(dirname "$0")/landing_table.sql"
"$VSQL" "${VSQL_LOGIN[@]}" -c "CREATE RESOURCE POOL microstructure_scheduler_pool PLANNEDCONCURRENCY 1;" \
  || true  # the pool may exist

"$VKCONFIG" scheduler --create --conf "$CONF" --operator "${VERTICA_USER:-dbadmin}" --frame-duration 00:00:10 \
  --eof-timeout-ms 2000 --config-refresh 00:01:00 --new-source-policy START \
  --resource-pool microstructure_scheduler_pool
"$VKCONFIG" cluster --create --conf "$CONF" --cluster polygon_kafka --hosts "${KAFKA_BROKERS:?set KAFKA_BROKERS}"
"$VKCONFIG" source --create --conf "$CONF" --source "$TOPIC" --cluster polygon_kafka --partitions "$PARTITIONS"
"$VKCONFIG" target --create --conf "$CONF" --target-schema public --target-table polygon_trades_raw
"$VKCONFIG" load-spec --create --conf "$CONF" --load-spec polygon_json \
  --parser KafkaJSONParser --parser-parameters flatten_arrays=true --load-method DIRECT --message-max-bytes 1000000
"$VKCONFIG" microbatch --create --conf "$CONF" --microbatch polygon_trades --add-source "$TOPIC" \
  --add-source-cluster polygon_kafka --target-schema public --target-table polygon_trades_raw \
  --rejection-schema public --rejection-table polygon_trades_rejected --load-spec polygon_json

echo "configured; start it with: $VKCONFIG launch --conf $CONF &"
echo "and promote every few seconds: while sleep 5; do $VSQL -f scripts/vertica/promote_trades.sql; done"
