#!/usr/bin/env bash
# One prepared check of the GPU paths, for a machine with one CUDA GPU, from a fresh clone:
#
#   bash benchmarks/gpu_check.sh            # about 5-8 minutes; one PASS/FAIL line per check
#
# It uses the torch, Lightning and torchmetrics the machine has, and installs only the small
# pure-Python dependencies it lacks (Hydra, OmegaConf) from wheels in .whl/ when there is no
# network (see the README, "Speed switches"). Exit status: the number of failed checks.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 HYDRA_FULL_ERROR=1
py=${PYTHON:-python3}
if ! $py -c "import hydra, omegaconf" 2>/dev/null; then
  if ls .whl/*.whl >/dev/null 2>&1; then
    $py -m pip install -q --no-index --no-deps --no-compile --target /tmp/gpu-check-site .whl/*.whl
  else
    $py -m pip install -q --target /tmp/gpu-check-site hydra-core omegaconf
  fi
  export PYTHONPATH=/tmp/gpu-check-site${PYTHONPATH:+:$PYTHONPATH}
fi
work=$(mktemp -d)
failed=0
quiet=(callbacks.progress_bar=null +trainer.enable_progress_bar=false logger=csv)

report() {  # report NAME STATUS FIGURE
  printf '%-4s %-44s %s\n' "$2" "$1" "$3"
  [ "$2" = PASS ] || failed=$((failed + 1))
}

run() {  # run NAME command...: PASS when it exits 0; its log in $work/<NAME>.log
  local name=$1; shift
  local start=$SECONDS
  local log="$work/${name//[^A-Za-z0-9]/_}.log"
  if "$@" >"$log" 2>&1; then
    report "$name" PASS "$((SECONDS - start)) s"
  else
    report "$name" FAIL "exit $? after $((SECONDS - start)) s; tail of $log:"
    tail -5 "$log" | sed 's/^/       /'
  fi
}

train() { $py train.py data.root="$work/data" "${quiet[@]}" "$@"; }

echo "== $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)"
pick=$($py -c "
from omegaconf import OmegaConf
from utils.engine.precision import pick_precision
trainer = OmegaConf.create({'accelerator': 'gpu', 'precision': 'auto'})
pick_precision(trainer)
print(trainer.precision)" 2>"$work/pick.log")
case "$pick" in bf16-mixed|16-mixed) report "precision auto on this GPU" PASS "$pick" ;;
  *) report "precision auto on this GPU" FAIL "${pick:-none} (see $work/pick.log)" ;; esac
run data $py -m data.prepare synthetic --root "$work/data"

for model in unet pix2pix; do
  run "$model: train debug=limit" train model=$model trainer=gpu debug=limit exp_name=$model
  run "$model: test" $py test.py exp_name=$model trainer=gpu +trainer.enable_progress_bar=false
  run "$model: predict on cuda" $py predict.py exp_name=$model device=cuda \
    input="$work/data/test/images" name=gpu
  run "$model: trainer=ddp, one GPU" train model=$model trainer=ddp trainer.devices=1 \
    debug=limit exp_name=${model}_ddp
  TORCH_LOGS=recompiles train model=$model trainer=gpu debug=limit model.compile=true \
    exp_name=${model}_compiled >"$work/$model-compile.log" 2>&1
  status=$?
  recompiles=$(grep -c "Recompiling function" "$work/$model-compile.log")
  if [ $status = 0 ]; then report "$model: model.compile=true" PASS "$recompiles recompiles"
  else report "$model: model.compile=true" FAIL "exit $status; see $work/$model-compile.log"; fi
done
run "pix2pix: trainer.precision=16-mixed" train model=pix2pix trainer=gpu debug=limit \
  trainer.precision=16-mixed exp_name=pix2pix_fp16

# A SIGTERM mid-training saves last.ckpt, and resume=true finishes the run.
train trainer=gpu exp_name=stopped trainer.max_epochs=30 >"$work/stop.log" 2>&1 &
pid=$!
for _ in $(seq 120); do grep -q "Epoch 1\|epoch=1" "$work/stop.log" 2>/dev/null && break
  [ -f experiment/stopped/model/last.ckpt ] && break; sleep 1; done
sleep 2; kill -TERM $pid; wait $pid; stopped=$?
if [ $stopped = 143 ] && [ -f experiment/stopped/model/last.ckpt ]; then
  run "SIGTERM saves, resume=true finishes" train exp_name=stopped resume=true
else report "SIGTERM saves, resume=true finishes" FAIL "exit $stopped; see $work/stop.log"; fi

# Steps per second of the DRIVE U-Net recipe's step (64 x 64 patches, batch 16), loaders in
# this process against the default worker processes beside a GPU.
for workers in 0 auto; do
  train trainer=gpu exp_name=workers_$workers data.num_workers=$workers \
    data.samples_per_epoch=16000 trainer.max_epochs=1 trainer.limit_val_batches=0 \
    callbacks.last_checkpoint=null >"$work/workers-$workers.log" 2>&1
  seconds=$($py -c "import yaml; print(yaml.safe_load(open('experiment/workers_$workers/record.yaml'))['sessions'][-1]['wall_time_s'])" 2>/dev/null)
  if [ -n "$seconds" ]; then
    report "U-Net steps/s, data.num_workers=$workers" PASS "$($py -c "print(f'{1000 / $seconds:.1f} steps/s (1,000 steps in $seconds s, start-up included)')")"
  else report "U-Net steps/s, data.num_workers=$workers" FAIL "see $work/workers-$workers.log"; fi
done
echo "== $failed check(s) failed; logs in $work"
exit $failed
