#!/usr/bin/env bash
# Each stabiliser and new loss against the same run without it, 3 seeds, in a setting where its
# paper says it helps; writes runs/stabilizers/<setting>/report.md (tables and plots, `gan
# report`), whose figures go to docs/results/stabilizers_<setting>.json.
#   scripts/stabilizer_table.sh                  every row (about 2 hours on 2 CPU cores)
#   scripts/stabilizer_table.sh digits stylegan2 only these settings
#   ONLY="grid25/wgan_clip grid25/wgan_gp" scripts/stabilizer_table.sh grid25   only these rows
# THREADS, ONLY, SKIP_REPORT: see scripts/seeds.sh. Runs go to runs/stabilizers/ (git-ignored);
# rerunning a finished row is a no-op. A setting's report is rewritten only when every one of
# its rows has run.
TABLES=("$@")
[ ${#TABLES[@]} -gt 0 ] || TABLES=(grid25 digits stylegan2 stacked)
source "$(dirname "$0")/seeds.sh"
RUNS=runs/stabilizers

row() {  # row SETTING NAME OVERRIDES...
    local setting=$1 name=$2; shift 2
    selected "$setting" "$name" || return 0
    seeds "$RUNS/$setting/$name" "$@"
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
# the Wasserstein critic with its two Lipschitz constraints (weight clipping is only usable with
# a critic: its row is WGAN against the GAN), RMSprop / Adam (0, 0.9) and 5 critic steps each
row grid25 wgan_clip "${G[@]}" loss=wasserstein
row grid25 wgan_gp "${G[@]}" loss=wasserstein optim=wgan_gp 'stabilizers=[gradient_penalty]'

# digits, 1,797 images: the data-efficient regime of DiffAugment, ADA and R1, on the plain
# DCGAN at 32 px as the table was measured (`gan train` before its tuned settings: those left out)
D=('~tuned@_global_' '~tuned_loss@_global_')
row digits baseline "${D[@]}" 'stabilizers=[]'
row digits diffaugment "${D[@]}" 'stabilizers=[diffaugment]'
row digits diffaugment_adaptive "${D[@]}" 'stabilizers=[diffaugment]' \
    stabilizers.diffaugment.adaptive=true stabilizers.diffaugment.adjust_images=100000
row digits ema "${D[@]}" 'stabilizers=[ema]'
row digits no_bn "${D[@]}" model.d_norm=none 'stabilizers=[]'
row digits spectral_norm "${D[@]}" model.d_norm=none 'stabilizers=[spectral_norm]'
row digits r1 "${D[@]}" model.d_norm=none 'stabilizers=[r1]' stabilizers.r1.gamma=1

# StyleGAN2 on digits at 16x16 (CPU-sized): path-length regularisation on and off
# (the preset's networks and R1 as they were when docs/stabilizers.md was measured)
S=(experiment=stylegan2_digits dataset.resolution=16 steps=1000 model.channel_max=128
   model.mapping_depth=4 batch_size=32 stabilizers.r1.gamma=0.1 stabilizers.r1.every=16)
row stylegan2 baseline "${S[@]}" 'stabilizers=[r1,ema]'
row stylegan2 path_length "${S[@]}" 'stabilizers=[r1,path_length,ema]'

# stacked digits, 1,000 modes (PacGAN's stacked MNIST): modes and KL at 26,000 samples
row stacked baseline dataset=stacked_digits
row stacked packing2 dataset=stacked_digits 'stabilizers=[packing]'

for setting in "${TABLES[@]}"; do
    case $setting in
        grid25) metrics="[modes,high_quality,reverse_kl,spread]" ;;
        stacked) metrics="[modes,mode_kl]" ;;
        *) metrics="[fid,precision,recall,classes]" ;;
    esac
    report "$setting" "$metrics" "runs/stabilizers/$setting" "$setting"
done
