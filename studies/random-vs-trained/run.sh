#!/usr/bin/env bash
# Random-weight vs trained accuracy of 8 front-ends (waveform and log-mel) on ESC-10 and FSDD, small width, CPU.
# The result files this produced are in results/; README.md has the tables. About 3 h on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")"  # the defaults below are relative to this folder
DATA=${DATA:-../../../shared/data}   # holds esc10/ and fsdd/
OUT=${OUT:-out}                     # results/ holds what it wrote, in this layout
FE=sample_level,frame_level,strided_512_256,mst,deepfourier,temporal,vertical_7x96,piczak
ESC=(--dataset esc10 --data-root "$DATA/esc10" --results "$OUT")
FSDD=(--dataset fsdd --data-root "$DATA/fsdd" --results "$OUT")

# ESC-10, 5 official folds: random weights (3 seeds, SVM and ELM), trained baselines (2 seeds), two transfer rows,
# and MST pre-training (Tax et al. 2017) followed by SVM on the pre-trained front-end
rwbench run "${ESC[@]}" --frontends "$FE,mfcc" --weights random --seeds 3 --backends svm,elm --grid study
rwbench train "${ESC[@]}" --frontends "$FE" --seeds 2 --epochs 30 --patience 6 --batch-size 16 --crop-seconds 1 \
  --refit fit-part --lrs 1e-3 --dropouts 0.5   # the recipe of the time (issue 19 made refit + lr and dropout search the default)
rwbench run "${ESC[@]}" --frontends sample_level,temporal --weights trained --seeds 2 --backends svm --grid study
rwbench pretrain mst "${ESC[@]}" --epochs 40 --patience 8 --lr 1e-3
rwbench run "${ESC[@]}" --frontends mst --weights mst --seeds 1 --backends svm --grid study

# FSDD, official split (repetitions 0-4 = test)
rwbench run "${FSDD[@]}" --frontends "$FE,mfcc" --weights random --seeds 3 --backends svm,elm --grid study
rwbench train "${FSDD[@]}" --frontends "$FE" --seeds 2 --epochs 20 --patience 5 --batch-size 32 --refit fit-part --lrs 1e-3 --dropouts 0.5

rwbench leaderboard --results "$OUT"
rwbench compare --results "$OUT"
