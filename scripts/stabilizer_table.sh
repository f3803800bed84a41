#!/usr/bin/env bash
# Each stabiliser and new loss against the same run without it, 3 seeds, in a setting where its
# paper says it helps; writes docs/stabilizers/*.md (tables) for docs/stabilizers.md.
#   scripts/stabilizer_table.sh            (about 70 minutes on 2 CPU cores, one job at a time)
# Runs go to runs/stabilizers/ (git-ignored); rerunning a finished row resumes it (no-op).
set -euo pipefail
cd "$(dirname "$0")/.."
GAN=${GAN:-.venv/bin/gan}
OUT=runs/stabilizers
SEEDS=0,1,2

row() {  # row SETTING NAME OVERRIDES...
    local setting=$1 name=$2; shift 2
    $GAN train --multirun "seed=$SEEDS" "$@" "hydra.sweep.dir=$OUT/$setting/$name" \
        "hydra.sweep.subdir=\${hydra.job.num}" > /dev/null
}

# 2-D, 25 Gaussians (PacGAN, VEEGAN): modes / high-quality share / reverse KL, 2,500 samples
G=(experiment=grid25_mlp)
row grid25 baseline "${G[@]}"
row grid25 packing2 "${G[@]}" 'stabilizers=[packing]'
row grid25 packing4 "${G[@]}" 'stabilizers=[packing]' stabilizers.packing.m=4
row grid25 r1 "${G[@]}" 'stabilizers=[r1]' stabilizers.r1.gamma=1
row grid25 r2 "${G[@]}" 'stabilizers=[r2]' stabilizers.r2.gamma=1
row grid25 gradient_penalty "${G[@]}" 'stabilizers=[gradient_penalty]'
row grid25 spectral_norm "${G[@]}" 'stabilizers=[spectral_norm]'
row grid25 ema "${G[@]}" 'stabilizers=[ema]' stabilizers.ema.half_life=50000
row grid25 least_squares "${G[@]}" loss=least_squares
row grid25 hinge "${G[@]}" loss=hinge
row grid25 rahinge "${G[@]}" loss=rahinge
row grid25 ragan "${G[@]}" loss=ragan
row grid25 rpgan "${G[@]}" loss=rpgan
row grid25 r3gan "${G[@]}" experiment=r3gan model=mlp dataset=grid25 batch_size=256 steps=8000 \
    optim.lr=1e-3 'stabilizers=[r1,r2]' stabilizers.r1.gamma=1 stabilizers.r2.gamma=1

# digits, 1,797 images: the data-efficient regime of DiffAugment, ADA and R1 (default run)
row digits baseline
row digits diffaugment 'stabilizers=[diffaugment]'
row digits diffaugment_adaptive 'stabilizers=[diffaugment]' stabilizers.diffaugment.adaptive=true \
    stabilizers.diffaugment.adjust_images=100000
row digits ema 'stabilizers=[ema]'
row digits no_bn model.d_norm=none
row digits spectral_norm model.d_norm=none 'stabilizers=[spectral_norm]'
row digits r1 model.d_norm=none 'stabilizers=[r1]' stabilizers.r1.gamma=1

# stacked digits, 1,000 modes (PacGAN's stacked MNIST): modes and KL at 26,000 samples
row stacked baseline dataset=stacked_digits
row stacked packing2 dataset=stacked_digits 'stabilizers=[packing]'

for setting in grid25 digits stacked; do
    metrics=$([ $setting = grid25 ] && echo "[modes,high_quality,reverse_kl]" ||
              ([ $setting = digits ] && echo "[fid,precision,recall,classes]" || echo "[modes,mode_kl]"))
    $GAN report "$OUT/$setting"/* "metrics=$metrics" "out=docs/stabilizers/$setting" \
        "title=$setting" > /dev/null
done
