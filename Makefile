# Two commands matter: `make demo` runs the main job (the self-healing loop on the embedded
# simulated cluster), `make test` runs every check. `make demos` runs the pattern demos.
# Both create .venv and install the project into it on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Offline-safe Prefect: state stays inside the repo, no telemetry or analytics.
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT := false
export DO_NOT_TRACK := 1
export LITELLM_LOCAL_MODEL_COST_MAP := True
export PYTHONDONTWRITEBYTECODE := 1

NAME ?=
TEST ?=
SEED ?=

.PHONY: install demo demos test lint pytest browser game-web game bench soak replay server serve webhook local-llm clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m flows.self_healing

demos: $(STAMP)
	$(BIN)/python -m flows.demos

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

pytest: $(STAMP) browser game-web
	$(BIN)/python -m pytest -q

# The browser test drives Debian's Chromium; install it when absent and we may (root with apt).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	      || echo "chromium could not be installed: the browser test will be skipped"; \
	  else echo "chromium is not installed and cannot be installed here: the browser test will be skipped"; fi; }

# The game page's client: yjs + y-websocket from npm, bundled by esbuild into apps/game/web/dist/
# (served by `make game`; no CDN at run time). Without npm the browser tests skip with the reason.
GAME_WEB := apps/game/web
game-web: $(GAME_WEB)/dist/game.js

$(GAME_WEB)/dist/game.js: $(GAME_WEB)/package.json $(GAME_WEB)/src/main.js
	@if command -v npm >/dev/null 2>&1; then \
	  cd $(GAME_WEB) && npm install --no-audit --no-fund --loglevel=error && npm run --silent build; \
	else echo "npm is not installed: the game page bundle is not built and its browser tests will be skipped"; fi

# Serve the game page and the shared world (host and port: SWARMKIT_GAME__HOST / SWARMKIT_GAME__PORT).
game: $(STAMP) game-web
	$(BIN)/python -m deployments.game_server

test: lint pytest

bench: $(STAMP)
	$(BIN)/python -m tests.perf.run $(NAME)

soak: $(STAMP)
	SWARMKIT_TEST_SEED_SCALE=20 $(BIN)/python -m pytest -q tests/sim tests/gossip tests/aggregation tests/byzantine

replay: $(STAMP)
	@test -n "$(TEST)" -a -n "$(SEED)" || { echo "usage: make replay TEST=<pytest node id without [..]> SEED=<n>"; exit 2; }
	$(BIN)/python -m pytest -q "$(TEST)" --seed=$(SEED)

local-llm: $(STAMP)
	$(BIN)/python -m patterns.consensus_router.local_llm serve --port 8765

server: $(STAMP)
	$(BIN)/prefect server start --host 127.0.0.1 --port 4200

# Served deployments look for due runs this often (seconds): a triggered run starts within it.
serve: export PREFECT_RUNNER_POLL_FREQUENCY ?= 2
serve: $(STAMP)
	$(BIN)/python -m deployments.serve

webhook: $(STAMP)
	$(BIN)/python -m deployments.webhook

clean:
	rm -rf .prefect .data bench-results .pytest_cache .mypy_cache .ruff_cache
