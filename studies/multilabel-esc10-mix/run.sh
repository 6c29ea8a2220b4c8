#!/usr/bin/env bash
# Multilabel tagging of ESC-10 mixtures (2-3 sources within one official fold): macro ROC-AUC / PR-AUC of 4
# random-weight front-ends, MFCC and musicnn's published MTT weights, SVM and ELM, small width, CPU.
# The result files this produced are in results/; README.md has the table. 18 min on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")"  # the defaults below are relative to this folder
DATA=${DATA:-../../../shared/data}   # holds esc10/ (ESC-50 layout)
OUT=${OUT:-out}
rwbench weights fetch musicnn        # or offline: --from PATH/musicnn-0.1.0-py3-none-any.whl
rwbench run --dataset esc10_mix --data-root "$DATA/esc10" --results "$OUT" \
            --frontends mfcc,timbral_temporal,sample_level,vgg,musicnn --weights random,mtt --seeds 3 \
            --backends svm,elm --grid study   # the grid of the time; the default is now the wider `wide`
