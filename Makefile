# Every target installs what it needs: a fresh clone runs `make demo` or
# `make test` and nothing else. Node comes from node_modules (the `node`
# package pins Node 24), never from the machine.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

DEPS := node_modules/.installed

.PHONY: demo plan install-plugin system-deps test test-unit test-e2e conformance typecheck build deps cluster-up cluster-down cluster-binary bench clean

# The live demo: local control plane, controller, ~50 members, cost report. Ctrl-C stops it.
demo: $(DEPS)
	node e2e/demo.ts

# The offline planner on the shipped sample of ~200 Services.
plan: $(DEPS)
	bin/sharedlb plan -f examples/services.yaml

test: $(DEPS) system-deps
	npm test

# From Debian, for the e2e tests: nftables (kube-proxy in the traffic tests,
# which also need iproute2 and root), chromium (the /report page test), and the
# lab node's runtime (e2e/node.ts): containerd, runc and the CNI plugins.
APT_INSTALL := apt-get install -y --no-install-recommends
system-deps:
	@command -v ip >/dev/null || { echo "iproute2 (ip) is required for the traffic tests" >&2; exit 1; }
	@command -v nsenter >/dev/null || { echo "util-linux (nsenter) is required for the lab node" >&2; exit 1; }
	@for pkg in nft:nftables chromium:chromium containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins; do cmd=$${pkg%%:*}; deb=$${pkg##*:}; \
	  command -v $$cmd >/dev/null && continue; echo "installing Debian's $$deb"; \
	  $(APT_INSTALL) $$deb >/dev/null 2>&1 || { apt-get update >/dev/null && $(APT_INSTALL) $$deb >/dev/null; } || true; \
	  command -v $$cmd >/dev/null || { echo "$$deb could not be installed from Debian: the e2e tests need it" >&2; exit 1; }; done

# The Gateway API conformance suite (v1.6.3, unmodified, profiles GATEWAY-TCP and
# GATEWAY-UDP) against sharedlb on the lab's real node; its report goes to
# conformance/reports/. Needs what the e2e tests need (root, Go, Debian's packages).
conformance: build system-deps
	node e2e/conformance-run.ts

test-unit: $(DEPS)
	npm run typecheck && npm run lint && npm run test:unit

test-e2e: build
	npm run test:e2e

typecheck: $(DEPS)
	npm run typecheck

build: $(DEPS)
	npm run build

deps: $(DEPS)

$(DEPS): package.json package-lock.json
	npm ci --no-audit --no-fund
	@node --version | grep -q '^v24\.' || { echo "node_modules/.bin/node is not Node 24" >&2; exit 1; }
	touch $@

# `sharedlb` and `kubectl sharedlb` on PATH: links to bin/sharedlb, which runs
# this clone's sources on its own Node 24.
BINDIR ?= $(HOME)/.local/bin
install-plugin: $(DEPS)
	mkdir -p "$(BINDIR)"
	ln -sf "$(CURDIR)/bin/sharedlb" "$(BINDIR)/sharedlb"
	ln -sf "$(CURDIR)/bin/sharedlb" "$(BINDIR)/kubectl-sharedlb"
	@case ":$$PATH:" in *":$(BINDIR):"*) ;; *) echo "add $(BINDIR) to PATH to run sharedlb and kubectl sharedlb";; esac

cluster-binary: $(DEPS)
	node e2e/cluster.ts build

cluster-up: $(DEPS)
	node e2e/cluster.ts up

cluster-down: $(DEPS)
	node e2e/cluster.ts down

# Benchmarks, not tests: figures go to bench/results/ (the last three start the local control plane).
bench: build
	node bench/packing.bench.ts
	node bench/plan.bench.ts
	node bench/controller.bench.ts
	node bench/propagation.bench.ts
	node bench/memory.bench.ts

clean:
	-node e2e/cluster.ts down 2>/dev/null
	rm -rf dist node_modules e2e/.cluster bench/.work
