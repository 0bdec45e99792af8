# Builds the extensions collection in extensions/ with kiln, in one command:
#
#   make local-hello-service DEST=_out     one extension, both platforms, into _out/hello-service/
#   make hello-service [PUSH=true]         one extension as the image $(REGISTRY)/hello-service:<VERSION>
#   make extensions [PUSH=true]            every extension; writes the $(OUT)/image-digests catalog
#   make targets                           the extensions (from `kiln targets --json`)
#   make frontend                          the kiln frontend image $(KILN_IMAGE)
#
# Every target first brings up the local environment (hack/env-up.sh: Docker with BuildKit, arm64
# emulation, the registry on 127.0.0.1:5000, the local toolchain image) and builds the frontend image
# when it is missing, or, for the default kiln:dev, when the sources changed since it was built (the
# image's org.kiln.source-hash label against hack/source-hash.sh). A KILN_IMAGE given on the command
# line or in the environment is only built when missing. Each default below can be overridden.

# The tree of packages and the platforms to build.
EXTENSIONS ?= extensions
PLATFORM ?= linux/amd64,linux/arm64
# Images are named $(REGISTRY)/<extension>:<tag>; the tag is the extension's VERSION unless TAG is set.
REGISTRY ?= 127.0.0.1:5000
TAG ?=
PUSH ?= false
# Where local-<extension> writes, and where the catalog, logs and the kiln CLI go.
DEST ?= _out
OUT ?= _out
# The frontend image, used as BUILDKIT_SYNTAX (the Pkgfile's published syntax image is not needed).
KILN_IMAGE ?= kiln:dev
# stale: rebuild when missing or out of date; missing: only when missing.
KILN_REBUILD ?= $(if $(filter file,$(origin KILN_IMAGE)),stale,missing)
# Replaces the Pkgfile's TOOLCHAIN_IMAGE through a named context; empty uses the Pkgfile's own.
TOOLCHAIN_IMAGE ?= kiln-test/busybox:latest
# Extra inputs: space-separated NAME=VALUE lists for --build-context and --build-arg, and raw flags.
BUILD_CONTEXTS ?=
BUILD_ARGS ?=
BUILDX_FLAGS ?=
PROGRESS ?= auto
SOURCE_DATE_EPOCH ?=
# The environment step; ENV_UP=true skips it on a machine set up another way.
ENV_UP ?= hack/env-up.sh

export EXTENSIONS PLATFORM REGISTRY TAG PUSH DEST OUT KILN_IMAGE KILN_REBUILD TOOLCHAIN_IMAGE \
	BUILD_CONTEXTS BUILD_ARGS BUILDX_FLAGS PROGRESS SOURCE_DATE_EPOCH

COLLECTION := hack/collection.sh
FIXED_GOALS := help env frontend cli targets extensions clean

.DEFAULT_GOAL := help
.PHONY: $(FIXED_GOALS)

help:
	@sed -n '2,8s/^# \{0,1\}//p' Makefile
	@echo "Run 'make targets' for the extensions of $(EXTENSIONS)/."

env:
	@mkdir -p $(OUT)/logs
	@echo "env: $(ENV_UP) (log $(OUT)/logs/env-up.log)"
	@$(ENV_UP) >$(OUT)/logs/env-up.log 2>&1 || { cat $(OUT)/logs/env-up.log; exit 1; }

frontend: env
	@$(COLLECTION) frontend

cli: frontend
	@$(COLLECTION) cli

targets: cli
	@$(COLLECTION) targets

extensions: cli
	@$(COLLECTION) extensions

local-%: cli
	@$(COLLECTION) local $*

clean:
	rm -rf $(OUT)/bin $(OUT)/logs $(OUT)/metadata $(OUT)/image-digests

# make print-VAR shows a variable's value, e.g. print-KILN_REBUILD.
print-%:
	@echo '$($*)'

# Any other goal names an extension (checked against `kiln targets --json` when it runs).
EXTENSION_GOALS := $(filter-out $(FIXED_GOALS) local-% print-%,$(MAKECMDGOALS))
.PHONY: $(EXTENSION_GOALS)
$(EXTENSION_GOALS): cli
	@$(COLLECTION) image $@
