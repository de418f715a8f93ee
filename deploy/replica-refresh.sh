#!/usr/bin/env bash
# Refresh a read-only replica's database from the Litestream replica:
# restore into a new file, check its integrity, then rename it over the copy
# that `raincast serve --read-only` serves. The rename is atomic: readers
# finish on the old file and the server re-opens the new one at its next poll
# (server.champion_poll_secs). Install as /usr/local/bin/raincast-replica-refresh.
#
#   LITESTREAM_REPLICA_URL  where the primary replicates (s3://..., file://...)
#   REPLICA_DB              the served copy (default /var/lib/raincast/replica.db)
#   --if-missing            only restore when there is no copy yet
#
# Do not use `litestream restore -f` (follow mode) under a running replica:
# it writes the copy in place under an exclusive lock that raincast's
# long-lived read connections never release, so it stalls until they close.
set -euo pipefail
url="${LITESTREAM_REPLICA_URL:?set LITESTREAM_REPLICA_URL}"
db="${REPLICA_DB:-/var/lib/raincast/replica.db}"
if [ "${1:-}" = "--if-missing" ] && [ -s "$db" ]; then
  exit 0
fi
new="$db.new"
rm -f "$new" "$new-shm" "$new-wal" "$new.tmp"
litestream restore -integrity-check full -o "$new" "$url"
mv -f "$new" "$db"
