# dCent Communicator — the two commands a newcomer needs are `make run` and `make test`.
# Each installs what is missing (Debian packages, Node 24, npm workspace, Kafka jars),
# starts the local infrastructure (Kafka KRaft, Redis, NATS JetStream, PostgreSQL on 127.0.0.1) and goes.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# npm scripts and everything below run on the Node 24 installed into node_modules.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

STACK := bash infra/local/stack.sh

.PHONY: demo help install generate check run test test-unit test-integration infra-up infra-down infra-status infra-logs infra-clean topics compose-config

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

install: ## Install Debian packages, Node 24, npm workspace and Kafka jars (idempotent)
	@bash scripts/install.sh
	@$(STACK) install
	@echo "[make] node $$(node --version) ($$(command -v node))"

generate: install ## Generate gRPC/protobuf TypeScript from proto/ (buf + ts-proto)
	@npm run --silent generate

check: generate ## Format/lint (Biome), buf lint and type check (services, tests, k6 scripts)
	@biome check .
	@(cd proto && buf lint)
	@tsc -p tsconfig.json
	@tsc -p k6/tsconfig.json
	@tsc -p console/tsconfig.json

infra-up: install ## Start Kafka, Redis, NATS and PostgreSQL on 127.0.0.1 (idempotent)
	@$(STACK) up

infra-down: ## Stop Kafka, Redis, NATS and PostgreSQL, and the Redis Cluster the tests start
	@$(STACK) down
	@$(STACK) redis-cluster-down | grep -v "not running" || true

infra-status: ## Show what runs
	@$(STACK) status

infra-logs: ## Tail the infrastructure logs (SVC=kafka|redis|nats|postgres)
	@$(STACK) logs $${SVC:-kafka}

infra-clean: ## Stop the infrastructure and delete its data
	@$(STACK) clean

topics: infra-up ## Create the eight topics on the local Kafka
	@node shared/src/broker/cli/ensure-topics.ts

run: generate infra-up ## Run Kafka, Redis, PostgreSQL and both services in the foreground (Ctrl-C stops the services)
	@bash scripts/run-services.sh

test: generate infra-up observe-install tools-install ## Everything: lint, type check, unit, integration and end-to-end tests on real servers
	@echo "[make] node $$(node --version)"
	@bash scripts/test.sh

test-unit: generate ## Unit tests only (no servers)
	@vitest run --project unit

test-integration: generate infra-up observe-install tools-install ## Integration tests only
	@vitest run --project integration

demo: ## Load sample sellers/orders into the running stack (make run) and walk one order through its life
	@node demo/run.ts

.PHONY: token api-key
token: ## Print a local HS256 token signed with AUTH_JWT_SECRET: make token ROLE=buyer SUB=BUYER-001 [TTL=3600]
	@node scripts/token.ts

api-key: ## Print a new API key and its AUTH_API_KEYS_FILE entry (hashed): make api-key ROLE=service SUB=requestor
	@node scripts/token.ts --api-key

.PHONY: certs
certs: ## A local CA + processor/requestor/client certificates (openssl) in certs/ (git-ignored) for TLS_CA_FILE / TLS_CERT_FILE / TLS_KEY_FILE
	@bash scripts/certs.sh

compose-config: ## Validate the Docker Compose file (needs only the docker client)
	@docker compose -f infra/docker-compose.yml config --quiet && echo "compose file is valid"

# Benchmark suite (test/bench/README.md): each scenario starts the services it measures on free ports
# (a private Redis, the local Kafka), drives them and a bare baseline server with the same generator,
# prints its table and writes test/bench/.results/<scenario>.json; exit 1 on a lost, duplicated or
# out-of-order event. BENCH_SHORT=1: the short form (seconds). The generator holds many sockets.
BENCH := ulimit -n "$$(ulimit -Hn)" 2>/dev/null || true; node --max-old-space-size=8192 test/bench/run.ts

.PHONY: bench bench-write bench-durability bench-live-orders bench-fan-out bench-overload bench-replicas bench-retention
bench: generate infra-up ## Every benchmark scenario in turn (about 25 min): figure, baseline and ratio per scenario
	@$(BENCH)

bench-write: generate infra-up ## Write path: proposals + updates, closed and open loop; latency to WatchOrder, SSE, topics
	@$(BENCH) write

bench-durability: generate infra-up ## The write closed loop with Redis fsyncing every write (the default) against appendfsync everysec
	@$(BENCH) durability

bench-live-orders: generate infra-up ## 10k/50k/100k live orders (BENCH_LIVE_ORDERS): open time, idle RSS/CPU/Redis, a burst
	@$(BENCH) live-orders

bench-fan-out: generate infra-up ## 50k WatchOrder + 10k SSE streams on one requestor: RSS, burst delivery p99
	@$(BENCH) fan-out

bench-overload: generate infra-up ## 2x the measured capacity for 60 s, then normal load: goodput, refusals, recovery time
	@$(BENCH) overload

bench-replicas: generate infra-up ## The write throughput of 2 processors + 2 requestors against 1 + 1
	@$(BENCH) replicas

bench-retention: generate infra-up ## Orders through their life at a steady rate, short retention: Redis used_memory flat, all archived
	@$(BENCH) retention

.PHONY: bench-latency
bench-latency: ## Stream latency benchmark: submit → NewProposal on WatchOrder, p50/p95/p99/max (needs make infra-up)
	@node test/bench/stream-latency.ts

.PHONY: bench-idle
bench-idle: ## Idle Redis load: commands/s of one idle processor, by command, from its /metrics (needs make infra-up)
	@node test/bench/idle-redis.ts

.PHONY: bench-commit-cost
bench-commit-cost: generate infra-up ## Bytes one proposal submission sends to Redis as its order grows (BENCH_COMMIT_BASELINE_DIR: another checkout beside)
	@node test/bench/commit-cost.ts

.PHONY: chaos
chaos: generate ## Fault-injection suite: 2 processors + 2 requestors under faults, CHAOS_ROUNDS=20 of each kind; table + test/chaos/.results/last.json
	@node test/chaos/run.ts

.PHONY: tools-install
tools-install: ## Build kustomize, kubeconform, actionlint, grpcurl, the Kubernetes schemas and the grpcio-reflection venv into ~/.cache/dcent (idempotent)
	@bash scripts/install-tool-checks.sh

.PHONY: observe observe-down observe-install
observe-install: ## Install Prometheus (Debian package) and build Jaeger v2 into ~/.cache/dcent/bin (idempotent)
	@bash scripts/install-observability.sh

observe: observe-install ## Prometheus (:9090) scraping the local services + Jaeger (OTLP :4317, UI :16686), detached
	@bash scripts/observe.sh up

observe-down: ## Stop what `make observe` started
	@bash scripts/observe.sh down
