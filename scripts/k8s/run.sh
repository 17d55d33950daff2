#!/usr/bin/env bash
# A sharded wsbench run on a Kubernetes cluster, step by step (docs/shards.md explains each):
#   1. the server under test (server.yaml: Deployment + Service), ready;
#   2. the scenario (scenario.yaml) and the results volume (results-pvc.yaml);
#   3. the shards: an Indexed Job (shards-job.yaml) whose pods each connect their slice and wait
#      for the common start;
#   4. once every shard pod runs, the start time (now + LEAD seconds) written into the run's
#      directory on the volume, whole;
#   5. the shards run and finish; 6. the merge Job (merge-job.yaml); 7. the run's directory
#      copied out to OUT.
#
#   scripts/k8s/run.sh        env: NAMESPACE (default), LEAD (30 s), OUT (./results-<run>)
#
# This sends load to the cluster's Service address, on purpose (`--allow-remote` in the Job):
# never run it against a cluster you may not load. Needs kubectl, the image wsbench:latest
# where the nodes pull from (see Dockerfile), and a ReadWriteMany storage class. GNU date.
# Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")"
ns=${NAMESPACE:-default}
lead=${LEAD:-30}
run=${RUN:-$(date -u +%Y%m%dT%H%M%SZ)}
out=${OUT:-./results-$run}
k() { kubectl --namespace "$ns" "$@"; }
shards=$(sed -n 's/^  completions: *\([0-9][0-9]*\)$/\1/p' shards-job.yaml)
[[ -n $shards ]] || { echo "cannot read completions from shards-job.yaml" >&2; exit 1; }

echo "1. server"
k apply -f server.yaml
k rollout status deployment/wsbench-server --timeout=300s

echo "2. scenario and results volume"
k apply -f scenario.yaml -f results-pvc.yaml

echo "3. $shards shards (run $run)"
k delete job wsbench-shards wsbench-merge --ignore-not-found --wait
sed "s/@RUN@/$run/g" shards-job.yaml | k apply -f -
running=0
for _ in $(seq 1 120); do
  running=$(k get pods --selector=job-name=wsbench-shards \
    --field-selector=status.phase=Running --output=name | wc -l)
  [[ $running -ge $shards ]] && break
  sleep 5
done
[[ $running -ge $shards ]] || { echo "only $running of $shards shard pods running after 10 min" >&2; exit 1; }

echo "4. common start in $lead s"
start=$(date -u -d "@$(( $(date +%s) + lead ))" +%Y-%m-%dT%H:%M:%SZ)
pod=$(k get pods --selector=job-name=wsbench-shards --output=name | head -n 1)
k exec "$pod" -- sh -c "mkdir -p /results/$run && echo $start > /results/$run/start.tmp \
  && mv /results/$run/start.tmp /results/$run/start"

echo "5. waiting for the shards (start $start)"
k wait --for=condition=complete job/wsbench-shards --timeout=3600s

echo "6. merge"
sed "s/@RUN@/$run/g" merge-job.yaml | k apply -f -
k wait --for=condition=complete job/wsbench-merge --timeout=600s
k logs job/wsbench-merge

echo "7. copying /results/$run to $out"
k apply -f fetch-pod.yaml
k wait --for=condition=Ready pod/wsbench-fetch --timeout=300s
k cp "wsbench-fetch:/results/$run" "$out"
k delete pod wsbench-fetch --wait=false
echo "done: $out/merged (wsbench report $out/merged)"
