#!/usr/bin/env bash
# The study fixed in README.md: 24 front-ends, random (3 seeds, SVM + ELM) vs trained (issue 19 recipe), ESC-10 and
# FSDD speakers, small width, CPU. Resumable: rerun after an interruption and finished work is reused.
#
#   ./run.sh                 every stage below, in order
#   ./run.sh STAGE [STAGE…]  only those: on a 2-core machine, run two lanes at once, one thread each, e.g.
#                            OMP_NUM_THREADS=1 ./run.sh esc-train transfer & OMP_NUM_THREADS=1 ./run.sh fsdd-random &
#                            (two processes never train the same front-end at once: the second waits, then reuses)
#   ./run.sh fsdd            FSDD front-end by front-end: random rows, training, transfer rows (esc: the same on ESC-10)
#
# Environment: ONLY=a,b runs those front-ends alone, in that order (a second training lane from the list's other end:
# ONLY=timbral,heurinet,sample_level ./run.sh fsdd-train); JOBS=N runs N front-ends' chains at once (default 1; on one
# GPU, e.g. JOBS=12: each is one process, and their output goes to $OUT/logs/STAGE-STEP-FE.log); WIDTH=paper (default
# small) with OUT=results-paper keeps a paper-width run beside the small one; DATA, OUT and CACHE as below.
set -euo pipefail
cd "$(dirname "$0")"
DATA=${DATA:-../../../shared/data}   # holds esc10/ and fsdd/
OUT=${OUT:-results}                               # result files (committed as they finish)
CACHE=${CACHE:-$HOME/.cache/rwbench/study24}      # embeddings (not committed); checkpoints live in $OUT/weights
WIDTH=${WIDTH:-small}
# shellcheck source=../jobs.sh
. ../jobs.sh  # JOBS, and each STEP LIST ARGS…
[[ $WIDTH =~ ^(small|paper)$ ]] || { echo "run.sh: WIDTH must be small or paper, got '$WIDTH'" >&2; exit 2; }
# cheapest first (README, "Compute plan"), so that the correlation gains rows as early as possible
FE=strided_1024_1024,temporal_short,temporal,mst,strided_1024_512,strided_512_512,strided_256_256,strided_512_256
FE=$FE,vertical_7x96,deepfourier,piczak,frame_level,vertical_7x86,frame_level_many,samplecnn
FE=$FE,timbral_temporal_short,timbral_temporal,sample_level,heurinet,timbral,vgg,rese2_multi,musicnn_vgg,musicnn
TWO_SEEDS=mst,strided_512_256,temporal,vertical_7x96,deepfourier,piczak,frame_level,sample_level
EXTRA=mfcc,logmel_stats  # random rows only (no weights to train)
if [ -n "${ONLY:-}" ]; then  # ONLY=a,b: those study front-ends alone, in that order (a second lane, from the other end)
  for fe in ${ONLY//,/ }; do
    [[ ",$FE,$EXTRA," == *",$fe,"* ]] || { echo "run.sh: ONLY names '$fe', not a front-end of the study" >&2; exit 2; }
  done
  TWO_SEEDS=$(tr , '\n' <<< "$ONLY" | grep -Fxf <(tr , '\n' <<< "$TWO_SEEDS") | paste -sd, -) || true
  EXTRA=$(tr , '\n' <<< "$ONLY" | grep -Fxf <(tr , '\n' <<< "$EXTRA") | paste -sd, -) || true
  FE=$(tr , '\n' <<< "$ONLY" | grep -vFxf <(tr , '\n' <<< "$EXTRA,") | paste -sd, -) || true
fi
ESC=(--dataset esc10 --data-root "$DATA/esc10" --results "$OUT" --width "$WIDTH")
FSDD=(--dataset fsdd --data-root "$DATA/fsdd" --tasks speakers --results "$OUT" --width "$WIDTH")
RUN=(--cache "$CACHE")

grid() {  # ARGS…: the name of the backends' grid for a dataset. FSDD's SVM stops its linear kernel at C = 32 (README, "FSDD
  # grid"): at C >= 128 libsvm took minutes a fit on its 2,000-clip inner folds, 17 CPU-hours per front-end
  case " $* " in *" --dataset fsdd "*) echo wide-linear32 ;; *) echo wide ;; esac
}
lrs() {  # ARGS…: the learning rates the trained heads search on a dataset. FSDD's five (README, "FSDD learning rates"):
  # on ESC-10, 22 of the 31 trainings chose the top of the recipe's three and 3 the bottom
  case " $* " in *" --dataset fsdd "*) echo 0.0001,0.0003,0.001,0.003,0.01 ;; *) echo 0.0003,0.001,0.003 ;; esac
}
random_rows() {  # FE ARGS…: one front-end's random rows (3 seeds, svm and elm)
  local fe=$1; shift
  rwbench run "$@" "${RUN[@]}" --grid "$(grid "$@")" --frontends "$fe" --weights random --seeds 3 --backends svm,elm
}
trained_rows() {  # FE ARGS…: one front-end trained (seed 0), then its transfer rows, so that every training is scored
  local fe=$1; shift
  rwbench train "$@" --frontends "$fe" --seeds 1 --lrs "$(lrs "$@")"
  rwbench run "$@" "${RUN[@]}" --grid "$(grid "$@")" --frontends "$fe" --weights trained --seeds 1 --backends svm,elm
}
second_seed() {  # FE ARGS…: seed 1 of a two-seed front-end (seed 0 is its trained row), then seed 1's transfer rows
  local fe=$1; shift
  rwbench train "$@" --frontends "$fe" --seeds 1, --lrs "$(lrs "$@")"
  rwbench run "$@" "${RUN[@]}" --grid "$(grid "$@")" --frontends "$fe" --weights trained --seeds 1, --backends svm,elm
}
per_frontend() {  # FE ARGS…: random rows, then trained rows, so that each front-end's row of the study lands whole
  local fe=$1; shift
  random_rows "$fe" "$@"; trained_rows "$fe" "$@"
}
random() {  # one front-end at a time (or $JOBS), so that its result files land (and are committed) before the next
  each random_rows "$FE${EXTRA:+,$EXTRA}" "$@"
}
train() {
  each trained_rows "$FE" "$@"
  each second_seed "$TWO_SEEDS" "$@"
}
both() {
  each per_frontend "$FE" "$@"
  each random_rows "$EXTRA" "$@"
  each second_seed "$TWO_SEEDS" "$@"
}
# the transfer rows of every trained front-end: its features refit with the random rows' backends (trained + svm/elm)
transfer() {
  local trained
  trained=$(rwbench leaderboard --results "$OUT" --format csv --columns frontend,weights,backend \
            | awk -F, '$1 == "esc10" && $3 == "trained" && $4 == "head" {print $2}' | paste -sd, -)
  rwbench run "${ESC[@]}" "${RUN[@]}" --frontends "$trained" --weights trained --seeds 1 --backends svm,elm
}
tables() {
  rwbench leaderboard --results "$OUT"
  rwbench compare --results "$OUT"              # random (svm, elm) vs the trained head: the study's ρ
  rwbench compare --results "$OUT" --transfer   # random vs trained features under the same backend
  local page=report.html
  [ "$OUT" = results ] || page="report-$(basename "$OUT").html"   # a paper-width run's page beside the small one's
  rwbench report --results "$OUT" -o "$page"
}
diagnosed() {  # NAME: a diagnosis folder of $OUT's run (diagnosis/NAME for results, diagnosis/NAME-OUT beside it)
  if [ "$OUT" = results ]; then echo "diagnosis/$1"; else echo "diagnosis/$1-$(basename "$OUT")"; fi
}
# Diagnosis (not part of ρ): a linear readout (logreg) of the random and of the trained features, the head's own
# kind of classifier. diagnosis/readout reads the trained weights of $OUT.
diagnosis() {
  local trained dir
  dir=$(diagnosed readout)
  trained=$(rwbench leaderboard --results "$OUT" --format csv --columns frontend,weights,backend \
            | awk -F, '$1 == "esc10" && $3 == "trained" && $4 == "head" {print $2}' | paste -sd, -)
  mkdir -p "$dir" && ln -sfn "$(realpath -m --relative-to="$dir" "$OUT/weights")" "$dir/weights"
  local read=(--dataset esc10 --data-root "$DATA/esc10" --width "$WIDTH" --results "$dir" "${RUN[@]}" --backends logreg)
  rwbench run "${read[@]}" --frontends "$trained" --weights random --seeds 3
  rwbench run "${read[@]}" --frontends "$trained" --weights trained --seeds 1
}
# Diagnosis (not part of ρ): does the learning-rate grid bracket the best rate? For each ESC-10 front-end whose head
# chose an end of --lrs in most folds (the leaderboard's grid edge, seed 0's search on fold 1), one more rate past that
# end (1e-2 above 3e-3, 1e-4 below 3e-4), both dropouts, on fold 1 from the same seeded initialisation: its inner
# validation loss beside the chosen setting's (lr_edge.py), and its fold-1 test accuracy.
lr_edge() {
  local dir edges side lrs fes
  dir=$(diagnosed lr-edge)
  edges=$(rwbench leaderboard --results "$OUT" --format csv --columns frontend,weights,backend,grid_edge \
          | awk -F, '$1 == "esc10" && $3 == "trained" && $4 == "head" && $5 ~ /^lr (high|low)/ {print $2, $5}')
  mkdir -p "$dir" && awk '{print $1}' <<< "$edges" | python -c 'import json, sys; print(json.dumps(sys.stdin.read().split()))' \
    > "$dir/flagged.json"
  for side in low:0.0001 high:0.01; do  # the one low-edge front-end is cheap: before the long high-edge list
    lrs=${side#*:}
    fes=$(awk -v s="${side%%:*}" '$3 == s {print $1}' <<< "$edges" | paste -sd, -)
    fes=$(tr , '\n' <<< "$FE" | grep -Fxf <(tr , '\n' <<< "$fes") | paste -sd, -) || true  # cheapest first; none: ""
    if [ -n "$fes" ]; then
      rwbench train --dataset esc10 --data-root "$DATA/esc10" --width "$WIDTH" --results "$dir/${side%%:*}" \
        --frontends "$fes" --seeds 1 --folds fold1 --lrs "$lrs"
    fi
  done
  python lr_edge.py "$OUT" "$dir" "$WIDTH" > "$dir/README.md.tmp"  # a failure keeps the README it had
  mv "$dir/README.md.tmp" "$dir/README.md"
}

ORDER=(esc-random esc-train fsdd-random fsdd-train transfer tables diagnosis lr-edge)
STAGES=("${ORDER[@]}" esc fsdd)
for stage in "${@:-${ORDER[@]}}"; do
  echo "=== $(date -u +%FT%TZ) $stage"
  LOG_TAG=$stage
  case $stage in
    esc-random) random "${ESC[@]}" ;;
    esc-train) train "${ESC[@]}" ;;
    fsdd-random) random "${FSDD[@]}" ;;
    fsdd-train) train "${FSDD[@]}" ;;
    esc) both "${ESC[@]}" ;;
    fsdd) both "${FSDD[@]}" ;;
    transfer | tables | diagnosis) $stage ;;
    lr-edge) lr_edge ;;
    *) echo "run.sh: no stage '$stage' (stages: ${STAGES[*]})" >&2; exit 2 ;;
  esac
done
