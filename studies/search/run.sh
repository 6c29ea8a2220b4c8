#!/usr/bin/env bash
# The study fixed in README.md (issue 20, item 5): 40 sampled architectures (20 per shipped space, seed 0), every one
# trained, proxies scored against training on ESC-10 and FSDD speakers; plus the registry's 24 trainable front-ends
# scored by the same zero-cost proxies. Resumable: rerun after an interruption and finished work is reused.
#
# ./run.sh runs it all (ESC-10, then FSDD); ./run.sh STAGE… runs some: esc, fsdd, or DATA-STEP (DATA esc|fsdd, STEP
# proxies|train|registry|tables), e.g. `./run.sh fsdd-proxies` on a CPU while `JOBS=12 ./run.sh esc-train` runs on a GPU.
# JOBS=N (default 1) trains N architectures at once, one `rwbench train` process each (a GPU machine: e.g. JOBS=12;
# logs in $OUT/logs/), before the `--train-top` calls, which then find every one trained and reuse it.
set -euo pipefail
cd "$(dirname "$0")"  # the defaults below are relative to this folder
DATA=${DATA:-../../../shared/data}            # holds esc10/ and fsdd/
OUT=${OUT:-results}                           # search folders and result files (committed as they finish)
CACHE=${CACHE:-$HOME/.cache/rwbench/search}   # embeddings (not committed)
STUDY24=${STUDY24:-../random-vs-trained-24/results}  # the registry front-ends' trained rows
REG=deepfourier,frame_level,frame_level_many,heurinet,mst,musicnn,musicnn_vgg,piczak,rese2_multi,sample_level,samplecnn
REG=$REG,strided_1024_1024,strided_1024_512,strided_256_256,strided_512_256,strided_512_512,temporal,temporal_short
REG=$REG,timbral,timbral_temporal,timbral_temporal_short,vertical_7x86,vertical_7x96,vgg
PROXIES=rw_elm,rw_svm,zero-cost,baseline
# shellcheck source=../jobs.sh
. ../jobs.sh  # JOBS, and each STEP LIST ARGS…
COMMON=(--width small --proxy-seeds 0,1,2 --batch 32 --results "$OUT" --cache "$CACHE")
ESC=(--dataset esc10 --data-root "$DATA/esc10")
FSDD=(--dataset fsdd --data-root "$DATA/fsdd" --tasks speakers)
# the random-weight proxies' grid per dataset: FSDD's SVM stops its linear kernel at C = 32 (study 24's README,
# "FSDD grid"), the same grid as study 24's FSDD random rows, which the registry's proxies reuse
declare -A GRID=([ESC]=wide [FSDD]=wide-linear32)
declare -A KEY=([ESC]=esc10 [FSDD]=fsdd__speakers)
# the trained heads' learning rates per dataset, as study 24's (its README, "FSDD learning rates"): FSDD searches five
declare -A LRS=([ESC]=0.0003,0.001,0.003 [FSDD]=0.0001,0.0003,0.001,0.003,0.01)
# the 40 architectures (README, "The 40 architectures"): drawn on 2026-12-03 by `--n 20 --seed 0` under the sampler of
# the time, listed since rwbench draws each network once (README, "Sampler change"), which redraws 6 of them
declare -A ARCHS=(
  [logmel]=5f65a9bd,e521027d,755c5d74,4b9f995d,af734902,a309f6e7,04270e21,fe40e7fc,ca11cde7,cd8e36f7,2683733d,45fecdfe,df53df38,26edd5a7,52a00f48,6d90fe71,977048fd,ef8b24b8,08c0121e,cba5c13d
  [waveform]=ae113f1d,425a005e,ce4668da,e6e60abd,d3c56ddc,95f6fcc1,dc3a9817,b8aca658,6142f44d,444f71ec,0fc4a316,f465efdc,595b0def,6d3bd8c4,63351cd4,d6e34ef7,b923b499,72c71405,53f3168b,8e9e670b
)

train() {  # ARCH ARGS…: one architecture trained (each's step)
  local arch=$1; shift
  rwbench train "$@" --frontends "$arch"
}

# The four steps of a dataset (DATA: ESC or FSDD), in the order `./run.sh esc` runs them
step_proxies() {  # DATA: every proxy of both spaces, so that the proxy table stands before the trainings (days) start
  local -n args=$1
  for space in logmel waveform; do
    rwbench search "$space" "${args[@]}" "${COMMON[@]}" --grid "${GRID[$1]}" --frontends "${ARCHS[$space]}" --seed 0 --proxies "$PROXIES"
  done
}
step_train() {  # DATA: every architecture trained (top 20 of 20), seed 0; then seed 1 of the extremes
  local -n args=$1
  local key=${KEY[$1]} all extremes
  if (( JOBS > 1 )); then  # the same trainings as --train-top's below (tests/test_search.py checks the settings)
    all=$(python - "$OUT/search/logmel__$key/search.json" "$OUT/search/waveform__$key/search.json" <<'PY'
import json, sys
print(",".join(a["name"] for path in sys.argv[1:] for a in json.load(open(path))["architectures"]))
PY
)
    each train "$all" "${args[@]}" --seeds 0, --width small --results "$OUT" --lrs "${LRS[$1]}"
  fi
  for space in logmel waveform; do  # reuses the proxy values and, with JOBS > 1, the trainings above
    rwbench search "$space" "${args[@]}" "${COMMON[@]}" --grid "${GRID[$1]}" --frontends "${ARCHS[$space]}" --seed 0 --proxies "$PROXIES" \
      --train-top 20 --train-seeds 0, --lrs "${LRS[$1]}"
  done
  # seed 1 for the 5 best and the 5 worst by trained seed-0 accuracy over the 40 (the rule in README.md)
  extremes=$(python - "$OUT/search/logmel__$key/search.json" "$OUT/search/waveform__$key/search.json" <<'PY'
import json, sys
from rwbench.analysis.significance import settled  # equal in exact arithmetic is equal (0.835 vs 0.8350000000000002)
archs = [a for path in sys.argv[1:] for a in json.load(open(path))["architectures"] if a.get("trained")]
value = {a["name"]: float(settled(a["trained"]["per_seed"]["0"])) for a in archs}
archs.sort(key=lambda a: value[a["name"]], reverse=True)
if archs:  # an architecture tied with the 5th best (or 5th worst) is one of them too, and said
    best, worst = value[archs[min(4, len(archs) - 1)]["name"]], value[archs[max(len(archs) - 5, 0)]["name"]]
    top = [a for a in archs if value[a["name"]] >= best]
    bottom = [a for a in archs if value[a["name"]] <= worst]
    for side, chosen in (("best", top), ("worst", bottom)):
        if len(chosen) > 5:
            print(f"ties at the cut of the 5 {side}: {len(chosen)} architectures get seed 1", file=sys.stderr)
    print(",".join(dict.fromkeys(a["name"] for a in top + bottom)))  # once each, also with < 10 trained
PY
)
  if (( JOBS > 1 )); then
    each train "$extremes" "${args[@]}" --seeds 1, --width small --results "$OUT" --lrs "${LRS[$1]}"
  else
    rwbench train "${args[@]}" --frontends "$extremes" --seeds 1, --width small --results "$OUT" --lrs "${LRS[$1]}"
  fi
}
step_registry() {  # DATA: the registry's own front-ends, the same proxies (their trained rows, and the random rows the
  # random-weight proxies reuse, are studies/random-vs-trained-24's)
  local -n args=$1
  rwbench search registry --frontends "$REG" "${args[@]}" --grid "${GRID[$1]}" --width small --proxy-seeds 0,1,2 --batch 32 \
    --results "$STUDY24" --random-weight-results "$STUDY24" --cache "$CACHE" --out "$OUT/search/registry__${KEY[$1]}" \
    --proxies "$PROXIES"
}
step_tables() {  # DATA: pooled over both spaces, then each space alone, then the registry's front-ends
  local key=${KEY[$1]}
  rwbench search score "$OUT/search/logmel__$key" "$OUT/search/waveform__$key" --out "$OUT/search/score__$key"
  rwbench search score "$OUT/search/logmel__$key"
  rwbench search score "$OUT/search/waveform__$key"
  rwbench search score "$OUT/search/registry__$key"
}

stages=("$@")
(( $# )) || stages=(esc fsdd)
plan=()  # DATA-STEP items; every stage is checked before anything runs
for stage in "${stages[@]}"; do
  data=${stage%%-*} step=${stage#*-}
  [ "$step" = "$stage" ] && step=all
  if [[ ! $data =~ ^(esc|fsdd)$ || ! $step =~ ^(all|proxies|train|registry|tables)$ ]]; then
    echo "run.sh: no stage '$stage' (stages: esc, fsdd, or DATA-STEP with DATA esc|fsdd and STEP" \
         "proxies|train|registry|tables)" >&2
    exit 2
  fi
  if [ "$step" = all ]; then plan+=("$data-proxies" "$data-train" "$data-registry" "$data-tables"); else plan+=("$stage"); fi
done
for item in "${plan[@]}"; do
  echo "=== $(date -u +%FT%TZ) $item"
  LOG_TAG=$item
  data=${item%%-*}
  "step_${item#*-}" "${data^^}"
done
