# A thin layer over the CLI for the old process's habits (reference: release-process.md, "Run Locally"):
#
#   KEYS_PATH=~/gpgkeys make build
#   RPM_REPO=… DEB_REPO=… KEYS_PATH=~/gpgkeys CREDENTIALS_PATH=~/credentials KET_STATE_URL=s3://… make all
#
# Every setting is the CLI's own (ket-packages build/publish --help): KEYS_PATH, RPM_REPO, DEB_REPO,
# KET_STATE_URL, KET_GPG_* and AWS_* are read by the CLI from the environment. CREDENTIALS_PATH is
# the old meaning, a folder holding AWS credentials (credentials, and config if present), handed to
# the AWS SDK as its shared files. MANIFEST, MIRROR, REGISTRY_MIRROR, ONLY and OUT map to
# --manifest, --mirror, --registry-mirror, --only and --out; ALLOW_UNPINNED=1 adds --allow-unpinned
# (the committed release.yaml has unpinned sources and images: pin them with `ket-packages pin`
# where upstream is reachable, or build them unverified with ALLOW_UNPINNED=1).

KET := node dist/bin/ket-packages.js
MANIFEST ?= release.yaml
OUT ?= build

ifdef CREDENTIALS_PATH
export AWS_SHARED_CREDENTIALS_FILE := $(CREDENTIALS_PATH)/credentials
ifneq ($(wildcard $(CREDENTIALS_PATH)/config),)
export AWS_CONFIG_FILE := $(CREDENTIALS_PATH)/config
endif
endif

BUILD_FLAGS := --manifest $(MANIFEST) --out $(OUT) $(if $(MIRROR),--mirror $(MIRROR)) \
  $(if $(REGISTRY_MIRROR),--registry-mirror $(REGISTRY_MIRROR)) $(if $(ONLY),--only $(ONLY)) \
  $(if $(ALLOW_UNPINNED),--allow-unpinned)

.PHONY: all build publish

all: build publish

build: dist/bin/ket-packages.js
	$(KET) build $(BUILD_FLAGS)

publish: dist/bin/ket-packages.js
	$(KET) publish --from $(OUT)

# The CLI, compiled when a source is newer than it.
dist/bin/ket-packages.js: $(shell find bin lib -name '*.ts') scripts/build-validators.js package.json tsconfig.json tsconfig.build.json
	npm run --silent build
