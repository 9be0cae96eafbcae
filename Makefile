# rrm: every target builds/refreshes the local virtual environment first.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch lies in /opt/wheels on the project's machines.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
PIP := $(BIN)/pip install --disable-pip-version-check -q $(FIND_LINKS)

.PHONY: demo test check lint typecheck bench clean venv checkpoints checkpoints-gfm \
	checkpoints-egat checkpoints-diffusion wheels base-image image

venv: $(VENV)/.stamp

$(VENV)/.stamp: pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "setting up $(VENV) (first run installs torch and friends; a few minutes)"
	$(PIP) --upgrade pip setuptools wheel
	$(PIP) -e '.[dev]'
	@touch $@

demo: venv
	$(BIN)/rrm demo

test: venv
	$(BIN)/python -m pytest -n 2

lint: venv
	$(BIN)/ruff check rrm tests bench

typecheck: venv
	$(BIN)/mypy rrm

check: lint typecheck test

bench: venv
	$(BIN)/python bench/bench_wmmse.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The shipped checkpoints, exactly as produced (2-core CPU; wall times in each
# checkpoint's metadata.json). GFM-RA: edge values per head (our extension),
# shortened schedules for this CPU (see README, GFM-RA).
CKPT := rrm/models/checkpoints
checkpoints: checkpoints-gfm checkpoints-egat checkpoints-diffusion

checkpoints-gfm: venv
	$(BIN)/rrm gfm pretrain --entries D1-D15 --n-per-entry 256 --epochs 8 --lr 1e-3 --seed 0 \
		--edge-value-dim 4 --out $(CKPT)/gfm-small-pretrained
	$(BIN)/rrm gfm finetune --backbone $(CKPT)/gfm-small-pretrained --catalog D16-D20 --shots 2048 \
		--objective sum --warmup-epochs 2 --epochs 24 --seed 0 --threads 1 --out $(CKPT)/gfm-small-sum
	$(BIN)/rrm gfm finetune --backbone $(CKPT)/gfm-small-pretrained --catalog D16-D20 --shots 2048 \
		--objective switch --warmup-epochs 2 --epochs 24 --seed 0 --threads 1 --eval-n 20 \
		--out $(CKPT)/gfm-small-switch
	$(BIN)/rrm gfm finetune --arch pcgnn --catalog D16-D20 --shots 2048 --objective switch \
		--warmup-epochs 2 --epochs 24 --seed 0 --threads 1 --eval-n 20 \
		--out $(CKPT)/pcgnn-small-switch
	$(BIN)/rrm gfm finetune --init $(CKPT)/gfm-small-world --catalog D16-D20 --shots 2048 \
		--objective sum --warmup-epochs 2 --epochs 24 --seed 0 --threads 1 --eval-n 20 \
		--out $(CKPT)/gfm-small-world-sum

checkpoints-egat: venv
	$(BIN)/rrm egat train --out $(CKPT)/egat-small --power-control --steps 3000 \
		--time-limit 690 --threads 1 --seed 0

checkpoints-diffusion: venv
	$(BIN)/rrm diffusion data --out out/diffusion-data
	$(BIN)/rrm diffusion train --data out/diffusion-data --out $(CKPT)/diffusion-small \
		--steps 3500 --batch-size 64 --lr 1e-3 --val-every 1750 --threads 1
# diffusion-n400 came from a GPU: `bash bench/device/diffusion.sh OUT 540` on an
# H200 (OUT/diffusion/train/checkpoint; docs/diffusion.md), not from this target.
# gfm-small-world(-switch) came from the same GPU run (docs/gfm.md); gfm-small-world-sum
# above fine-tunes the shipped gfm-small-world on this CPU (1,922 s).

# The container image (docs/deploy.md). podman or docker, whichever is present.
# `make wheels` fills wheels/ from pip's configured indexes and find-links, so the
# build installs from it alone; `make base-image` makes a Debian base with
# mmdebstrap (no registry). IMAGE_BASE: any image with python3 3.11 + python3-venv.
IMAGE ?= rrm/rrm-xapp:0.1.0
IMAGE_BASE ?= localhost/rrm-base:bookworm
ENGINE ?= $(shell command -v podman 2>/dev/null || command -v docker 2>/dev/null)
IMAGE_ARGS ?=

wheels: venv
	$(BIN)/pip wheel --disable-pip-version-check -q $(FIND_LINKS) -w wheels . "setuptools>=68"

base-image:
	@test -n "$(ENGINE)" || { echo "make base-image: neither podman nor docker found"; exit 2; }
	mmdebstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm - \
		| $(ENGINE) import - $(IMAGE_BASE)

image:
	@test -n "$(ENGINE)" || { echo "make image: neither podman nor docker found"; exit 2; }
	$(ENGINE) build --build-arg BASE=$(IMAGE_BASE) $(IMAGE_ARGS) -t $(IMAGE) .
