# Shared by the table scripts (sourced): run one row of a table, its seeds as one multirun.
#   GAN=...       the gan command (default .venv/bin/gan)
#   THREADS=1     one CPU thread per run (two scripts side by side on 2 cores)
#   ONLY="a/x b/y" only these rows (TABLE/ROW); SKIP_REPORT=1: no report at the end
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
GAN=${GAN:-.venv/bin/gan}
SEEDS=${SEEDS:-0,1,2}
THREADS_ARG=()
[ -z "${THREADS:-}" ] || THREADS_ARG=("device.threads=$THREADS")

selected() {  # selected TABLE [ROW]: is this table (and row) among the chosen ones?
    [[ " ${TABLES[*]} " == *" $1 "* ]] || return 1
    [ -z "${ONLY:-}" ] || [ -z "${2:-}" ] || [[ " $ONLY " == *" $1/$2 "* ]]
}

seeds() {  # seeds DIR OVERRIDES...: the seeds of one row into DIR/<job number>
    local dir=$1; shift
    echo "$(date +%T) $dir"
    $GAN train --multirun "seed=$SEEDS" "$@" "${THREADS_ARG[@]}" "hydra.sweep.dir=$dir" \
        "hydra.sweep.subdir=\${hydra.job.num}" > /dev/null
}

report() {  # report TABLE METRICS OUT TITLE: a table over every row of TABLE, if all have run
    local table=$1 metrics=$2 out=$3 title=$4
    [ -z "${SKIP_REPORT:-}" ] || return 0
    local expected finished
    expected=$(grep -c "^row $table " "$0")
    finished=$( (find "$RUNS/$table" -mindepth 1 -maxdepth 1 -type d 2>/dev/null || true) | wc -l)
    if [ "$finished" -lt "$expected" ]; then
        echo "$table: $finished of $expected rows have run; report not rewritten"
        return 0
    fi
    $GAN report "$RUNS/$table"/* "metrics=$metrics" "out=$out" "title=$title" > /dev/null
}
