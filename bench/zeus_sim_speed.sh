#!/usr/bin/env bash
# Times the Zeus trace-driven simulator on the issue's work: all six NSDI'23 workloads ×
# seeds 1..10 × the artifact's recurrence count (2·|B|·|P|) on the V100 trace, η = 0.5, β = 2.
# Side by side: ergon (`ergon zeus simulate`, release build, one process per run, so process
# start and trace parsing are included) and the reference (the legacy simulator of the public
# `zeus` 0.16.0 package, through bench/zeus_reference_oracle.py, which times only
# `simulate_one_job`). The in-process figure is `cargo bench -p ergon-core --bench zeus`.
#
#   bench/zeus_sim_speed.sh [PYTHON]   (PYTHON: a venv with zeus==0.16.0, numpy, pandas,
#                                       scikit-learn; default /root/.cache/ergon/zeus-venv)
set -euo pipefail
cd "$(dirname "$0")/.."
py=${1:-/root/.cache/ergon/zeus-venv/bin/python}
data=../shared/data/zeus
cargo build --release -q -p ergon-cli
start=$(date +%s.%N)
for w in cifar100 imagenet squad librispeech movielens-1m sentiment140; do
    for seed in $(seq 1 10); do
        target/release/ergon zeus simulate --train "$data/summary_train.csv" \
            --power "$data/summary_power_v100.csv" --workload "$w" --seed "$seed" --json >/dev/null
    done
done
end=$(date +%s.%N)
echo "ergon (60 processes): $(echo "$end - $start" | bc) s"
if [ -x "$py" ]; then
    "$py" bench/zeus_reference_oracle.py simulate |
        "$py" -c 'import json,sys; print("reference (simulate_one_job only): %.1f s" % json.load(sys.stdin)["seconds_total"])'
else
    echo "reference: skipped ($py not found)"
fi
