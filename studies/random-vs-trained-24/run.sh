#!/usr/bin/env bash
# The study fixed in README.md: 24 front-ends, random (3 seeds, SVM + ELM) vs trained (issue 19 recipe), ESC-10 and
# FSDD speakers, small width, CPU. Resumable: rerun after an interruption and finished work is reused.
set -euo pipefail
DATA=${DATA:-../../../shared/data}   # holds esc10/ and fsdd/
OUT=${OUT:-results}                               # result files (committed as they finish)
CACHE=${CACHE:-$HOME/.cache/rwbench/study24}      # embeddings and weights checkpoints (not committed)
FE=deepfourier,frame_level,frame_level_many,heurinet,mst,musicnn,musicnn_vgg,piczak,rese2_multi,sample_level,samplecnn
FE=$FE,strided_1024_1024,strided_1024_512,strided_256_256,strided_512_256,strided_512_512,temporal,temporal_short
FE=$FE,timbral,timbral_temporal,timbral_temporal_short,vertical_7x86,vertical_7x96,vgg
TWO_SEEDS=sample_level,frame_level,strided_512_256,mst,deepfourier,temporal,vertical_7x96,piczak
ESC=(--dataset esc10 --data-root "$DATA/esc10" --results "$OUT")
FSDD=(--dataset fsdd --data-root "$DATA/fsdd" --tasks speakers --results "$OUT")
RUN=(--cache "$CACHE")

for data in ESC FSDD; do
  declare -n args=$data
  rwbench run "${args[@]}" "${RUN[@]}" --frontends "$FE,mfcc,logmel_stats" --weights random --seeds 3 --backends svm,elm
  rwbench train "${args[@]}" --frontends "$FE" --seeds 1
  rwbench train "${args[@]}" --frontends "$TWO_SEEDS" --seeds 0,1
done
# transfer rows: each trained front-end's features refit with the random rows' backends (trained + svm / elm)
TRAINED=$(rwbench leaderboard --results "$OUT" --format csv --columns frontend,weights,backend \
          | awk -F, '$1 == "esc10" && $3 == "trained" && $4 == "head" {print $2}' | paste -sd, -)
rwbench run "${ESC[@]}" "${RUN[@]}" --frontends "$TRAINED" --weights trained --seeds 1 --backends svm,elm

rwbench leaderboard --results "$OUT"
rwbench compare --results "$OUT"              # random (svm, elm) vs the trained head: the study's ρ
rwbench compare --results "$OUT" --transfer   # random vs trained features under the same backend
rwbench report --results "$OUT" -o report.html

# Diagnosis (not part of ρ): a linear readout (logreg) of the random and of the trained features, the head's own
# kind of classifier. diagnosis/readout reads the trained weights of $OUT.
DIAG=diagnosis/readout
mkdir -p "$DIAG" && ln -sfn "$(realpath -m --relative-to="$DIAG" "$OUT/weights")" "$DIAG/weights"
READ=(--dataset esc10 --data-root "$DATA/esc10" --results "$DIAG" "${RUN[@]}" --backends logreg)
rwbench run "${READ[@]}" --frontends "$TRAINED" --weights random --seeds 3
rwbench run "${READ[@]}" --frontends "$TRAINED" --weights trained --seeds 1
