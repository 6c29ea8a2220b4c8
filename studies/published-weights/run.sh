#!/usr/bin/env bash
# Published weights beside their seeded random twins on ESC-10 (5 official folds, nested CV, SVM + ELM, CPU):
# CREPE (full, tiny), PESTO, Basic Pitch and musicnn with the weights their authors ship in their wheels, HEAR 2021's
# naive baseline (through the HEAR API) and MFCC. Resumable: finished embeddings and results are reused.
set -euo pipefail
cd "$(dirname "$0")"
DATA=${DATA:-../../../shared/data}
OUT=${OUT:-results}
CACHE=${CACHE:-$HOME/.cache/rwbench/published-weights}
ESC=(--dataset esc10 --data-root "$DATA/esc10" --results "$OUT" --cache "$CACHE" --backends svm,elm)
FSDD=(--dataset fsdd --data-root "$DATA/fsdd" --tasks speakers --results "$OUT" --cache "$CACHE" --backends svm,elm)

for pack in crepe pesto basic_pitch; do rwbench weights fetch "$pack"; done
rwbench weights list | grep -q "MTT_musicnn .*safetensors" || rwbench weights fetch musicnn

# first pass: the published weights and seed 0 of each random twin (crepe full last: 113 GMAC per 5-s clip)
rwbench run "${ESC[@]}" --frontends crepe_tiny --weights crepe,random --seeds 1
rwbench run "${ESC[@]}" --frontends pesto --weights mir1k,random --seeds 1
rwbench run "${ESC[@]}" --frontends basic_pitch --weights icassp2022,random --seeds 1
rwbench run "${ESC[@]}" --frontends musicnn --weights mtt,msd,random --seeds 1
# baselines: MFCC and HEAR 2021's naive model (see ../hear-import for the compatibility shim; PYTHONPATH=. puts this
# folder on the path, so no file here may take a package's name: hpelm imports PyTables as `tables`)
rwbench run "${ESC[@]}" --frontends mfcc
PYTHONPATH=. rwbench run "${ESC[@]}" --frontends hear:hearbaseline_naive_compat

# second pass: seeds 1 and 2 of the random twins
rwbench run "${ESC[@]}" --frontends crepe_tiny,pesto,basic_pitch,musicnn --weights random --seeds 0,1,2

# FSDD, task `speakers` (leave one speaker out: 6 folds), the same rows; the random twins at seed 0 only (the seed
# spread is measured on ESC-10: an FSDD fit of the wide grid costs 4-7 min on this CPU, 8 per front-end with 3 seeds)
for fe in crepe_tiny:crepe pesto:mir1k basic_pitch:icassp2022 musicnn:mtt,msd; do
  rwbench run "${FSDD[@]}" --frontends "${fe%%:*}" --weights "${fe#*:},random" --seeds 1
done
rwbench run "${FSDD[@]}" --frontends mfcc
PYTHONPATH=. rwbench run "${FSDD[@]}" --frontends hear:hearbaseline_naive_compat

# last: CREPE full (113 GMAC per 5-s clip)
rwbench run "${ESC[@]}" --frontends crepe --weights crepe,random --seeds 1

rwbench leaderboard --results "$OUT" --format md
