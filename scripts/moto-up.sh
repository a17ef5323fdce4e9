#!/usr/bin/env bash
# Starts the pinned moto emulator on a free loopback port, waits until it answers, creates the
# buckets named as arguments, and prints the environment that points AWS tools at it, as
# `export NAME=value` lines (eval them) or, with GITHUB_ENV set, appended there too.
#   eval "$(bash scripts/moto-up.sh my-bucket)"      # then: kill "$MOTO_PID" when done
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=$(bash "$repo/scripts/moto-venv.sh")
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=${MOTO_LOG:-/dev/null}
nohup "$python" -m moto.server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
url="http://127.0.0.1:$port"
"$python" - "$url" "$@" <<'PY'
import sys, time, urllib.request
import boto3
url, buckets = sys.argv[1], sys.argv[2:]
for _ in range(400):
    try:
        urllib.request.urlopen(url + "/moto-api/")
        break
    except Exception:
        time.sleep(0.05)
else:
    sys.exit(f"moto did not answer on {url}")
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id="moto", aws_secret_access_key="moto")
for b in buckets:
    s3.create_bucket(Bucket=b)
PY
vars=(
  "MOTO_PID=$pid" "MOTO_PYTHON=$python" "AWS_ENDPOINT_URL=$url"
  "AWS_REGION=us-east-1" "AWS_DEFAULT_REGION=us-east-1"
  "AWS_ACCESS_KEY_ID=moto" "AWS_SECRET_ACCESS_KEY=moto" "AWS_EC2_METADATA_DISABLED=true"
)
for v in "${vars[@]}"; do
  echo "export $v"
  [[ -n ${GITHUB_ENV:-} ]] && echo "$v" >>"$GITHUB_ENV"
done
