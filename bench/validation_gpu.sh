#!/usr/bin/env bash
# Validation studies at a meaningful size on one GPU, without Snakemake: the ganlee CLI
# steps of rules/validation.smk (gan-train, toys, lee-aggregate, validation-amplification,
# validation-summary, validation-plots, validation-closure, validation-closure-plots), run
# directly, in priority order under a time budget.
#
# usage: bench/validation_gpu.sh DATA_DIR OUT_DIR [N_TOYS] [BUDGET_S] [GAN_EPOCHS] [N_OTHER]
#   DATA_DIR: features.root (the MC) and reference.root (an independent MC sample, e.g. from
#             ganlee mc-generate --index 100000+j and mc-convert, for the amplification study);
#             optionally pool.root (an independent MC pool >= 10x the toy size, mc-generate
#             --index 200000+j): then the closure study mc_pool and closure.json are added
#   OUT_DIR:  summary.json, plots/, per-study LEE summaries, logs, timing.txt
#   N_TOYS:   toys of the GAN, MC-bootstrap, MC-pool and GAN-ensemble studies (default 2000);
#             N_OTHER: toys of the injection and sculpting studies (default N_TOYS; fewer saves time, each
#             study's LEE then counts its own toys); BUDGET_S: wall-clock seconds for everything
#             (default 300): toy studies still pending when 62% of it has passed are skipped
#             and the summary is written with --partial; GAN_EPOCHS: epochs of every GAN of the
#             ensemble (default 500, the reference analysis's; differing only in seed).
# Config: config/config.yaml + config/validation.yaml (as snakemake --configfile config/config.yaml config/validation.yaml merges them) with device cuda,
# the sizes above, one chunk per study.
# Env: DEVICE (default cuda), OVERRIDE (a JSON object merged last, e.g. a tiny DNN for a CPU smoke
# test: DEVICE=cpu OVERRIDE='{"toys": {"dnn": {"layers": [8], "epochs": 1}}}' ... 4 600 2).
# Needs: PYTHONPATH with src/ (ganlee need not be installed) and the wheels of .whl/.
set -u
DATA=$(realpath "$1"); OUT=$(realpath -m "$2"); N=${3:-2000}; BUDGET=${4:-300}; EPOCHS=${5:-500}
N_OTHER=${6:-$N}
mkdir -p "$OUT/logs" "$OUT/lee"
WORK=${WORK:-/tmp/ganlee_validation}; rm -rf "$WORK"; mkdir -p "$WORK/toys" "$WORK/gan"
T0=$(date +%s)
elapsed() { echo $(( $(date +%s) - T0 )); }
log() { echo "[validation_gpu $(elapsed) s] $*" | tee -a "$OUT/timing.txt"; }
# the ganlee CLI, with the validation subcommands registered whether or not cli.py lists them
PY='import sys, ganlee.cli as c
if "ganlee.validation.commands" not in c._STAGES: c._STAGES = (*c._STAGES, "ganlee.validation.commands")
sys.exit(c.main())'
gl() { python3 -c "$PY" "$@"; }

OVERRIDE=${OVERRIDE:-'{}'}
python3 - "$OUT/config.json" "$N" "$EPOCHS" "${DEVICE:-cuda}" "$OVERRIDE" <<'EOF' || exit 1
import json, sys, yaml
from ganlee.config import load_config
out, n, epochs, device, override = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]


def merge(a, b):
    for k, v in b.items():
        a[k] = merge(a.get(k, {}), v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
    return a


# as Snakemake: the embedded default, then config/validation.yaml over it
cfg = merge(yaml.safe_load(open("config/config.yaml")), yaml.safe_load(open("config/validation.yaml")))
cfg["device"] = device
cfg["gan"]["epochs"] = epochs
cfg["gan"]["checkpoint_every"] = epochs
cfg["toys"].update(n_toys=n, chunk_size=n, models_per_batch=1000)
cfg["validation"].update(n_toys=None, chunk_size=None)
cfg["validation"]["amplification"].update(sizes=[1000, 10000, 100000, 1000000], n_repeats=10)
merge(cfg, json.loads(override))
json.dump(load_config(json.dumps(cfg)), open(out, "w"), sort_keys=True)
EOF
CFG=$(cat "$OUT/config.json")
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | tee -a "$OUT/timing.txt"
log "config: $N toys (gan, mc_bootstrap, ensemble), $N_OTHER (injection, nomllg), GAN epochs $EPOCHS, budget $BUDGET s"
ntoys() { case $1 in gan|mc_bootstrap|mc_pool|gan_ens*) echo "$N" ;; *) echo "$N_OTHER" ;; esac; }

# 1. the GAN ensemble: member 0 = the main GAN (main seed), members g >= 1 with derived seeds
mapfile -t MEMBERS < <(python3 -c "
import json; from ganlee.validation import studies as st
cfg = json.load(open('$OUT/config.json'))
for m in st.ensemble_members(cfg):
    g = 0 if m == 'gan' else int(m[7:])
    c = {'seed': st.ensemble_seed(cfg, g), 'device': cfg['device'], 'gan': cfg['gan'], 'mc': cfg['mc']}
    print(m, json.dumps(c))")
for line in "${MEMBERS[@]}"; do
  m=${line%% *}; gcfg=${line#* }
  gl gan-train --config "$gcfg" --features "$DATA/features.root" --model "$WORK/gan/$m.pt" \
    --history "$WORK/gan/$m.csv" > "$OUT/logs/gan_train_$m.log" 2>&1 &
done
wait
log "GAN training done: $(ls "$WORK/gan"/*.pt | wc -l) models"

# 2. toy studies, most important first, 4 at a time (one chunk of N toys each)
mapfile -t STUDIES < <(python3 -c "
import json; from ganlee.validation import studies as st
cfg = json.load(open('$OUT/config.json'))
pool = ['mc_pool'] if __import__('os').path.exists('$DATA/pool.root') else []
order = ['gan', *pool, 'mc_bootstrap', 'nomllg'] + [s for s in st.study_names(cfg) if s.startswith('gan_ens')]
order += [s for s in st.study_names(cfg) if s.endswith('_train')] + [s for s in st.study_names(cfg) if s.endswith('_kfold')]
for s in dict.fromkeys(order):
    a = st.alias(cfg, s)
    if a == s or (a == st.MAIN and s == 'gan'):
        print(s, json.dumps(st.study_toy_config(cfg, s)))")
DEADLINE=$(( BUDGET * 62 / 100 ))
running=0
for line in "${STUDIES[@]}"; do
  s=${line%% *}; tcfg=${line#* }
  left=$(( DEADLINE - $(elapsed) ))
  if [ "$left" -le 5 ]; then log "skip $s (time budget)"; continue; fi
  features="$DATA/features.root"
  case $s in
    mc_bootstrap) model=() ;;
    mc_pool) model=(); features="$DATA/pool.root" ;;
    gan_ens*) model=(--model "$WORK/gan/$s.pt") ;;
    *) model=(--model "$WORK/gan/gan.pt") ;;
  esac
  mkdir -p "$WORK/toys/$s"
  ( t=$(date +%s); timeout "$(( left + BUDGET * 15 / 100 ))" python3 -c "$PY" toys --config "$tcfg" "${model[@]}" \
      --features "$features" --first 0 --count "$(ntoys "$s")" --out "$WORK/toys/$s/chunk_0.npz" \
      > "$OUT/logs/toys_$s.log" 2>&1; rc=$?
    echo "[validation_gpu] toys $s rc=$rc in $(( $(date +%s) - t )) s: $(grep -h '\[toys\] time' "$OUT/logs/toys_$s.log")" >> "$OUT/timing.txt" ) &
  running=$((running + 1))
  if [ "$running" -ge 4 ]; then wait -n; running=$((running - 1)); fi
done
wait
log "toys done"

# 3. per-study LEE aggregation (study gan also serves as the main LEE calibration here)
ARGS=()
while read -r s src; do
  [ -f "$WORK/toys/$src/chunk_0.npz" ] || continue
  LEECFG=$(python3 -c "import json; c=json.load(open('$OUT/config.json')); print(json.dumps({'lee': c['lee'], 'toys': {'n_toys': $(ntoys "$src")}}))")
  gl lee-aggregate --config "$LEECFG" --quiet --summary "$OUT/lee/$s/summary.json" --zmax "$OUT/lee/$s/zmax.csv" \
    --hist "$OUT/lee/$s/zmax_hist.pkl" "$WORK/toys/$src" > "$OUT/logs/aggregate_$s.log" 2>&1 &
  ARGS+=(--study "$s" "$WORK/toys/$src" "$OUT/lee/$s")
done < <(python3 -c "
import json; from ganlee.validation import studies as st
cfg = json.load(open('$OUT/config.json'))
for s in st.study_names(cfg):
    a = st.alias(cfg, s)
    print(s, 'gan' if a == st.MAIN else a)")
gl validation-amplification --config "$CFG" --features "$DATA/features.root" --model "$WORK/gan/gan.pt" \
  --reference "$DATA/reference.root" --out "$OUT/amplification.json" > "$OUT/logs/amplification.log" 2>&1 &
wait
log "aggregation and amplification done"

# 4. summary (partial when studies were skipped) and plots
gl validation-summary --config "$CFG" --partial "${ARGS[@]}" --main-lee "$OUT/lee/gan" \
  --amplification "$OUT/amplification.json" --features "$DATA/features.root" --out "$OUT/summary.json" \
  > "$OUT/logs/summary.log" 2>&1
log "summary: rc=$? ($(tail -1 "$OUT/logs/summary.log"))"
gl validation-plots --config "$CFG" --summary "$OUT/summary.json" --outdir "$OUT/plots" > "$OUT/logs/plots.log" 2>&1
log "plots: rc=$?"

# 5. the closure: GAN toys vs independent-MC pool toys (when pool.root was given)
if [ -f "$WORK/toys/mc_pool/chunk_0.npz" ]; then
  gl validation-closure --config "$CFG" --study gan "$WORK/toys/gan" --study mc_pool "$WORK/toys/mc_pool" \
    --out "$OUT/closure.json" > "$OUT/logs/closure.log" 2>&1
  log "closure: rc=$? ($(tail -1 "$OUT/logs/closure.log"))"
  gl validation-closure-plots --config "$CFG" --closure "$OUT/closure.json" --outdir "$OUT/plots" \
    > "$OUT/logs/closure_plots.log" 2>&1
  log "closure plots: rc=$?"
fi
log "total $(elapsed) s"
