# `docker buildx bake` for the same builds as the Makefile: the kiln frontend image and every extension
# of extensions/ for linux/amd64 and linux/arm64, tagged <REGISTRY>/<name>:<VERSION of its vars.yaml>.
#   docker buildx bake frontend                  the frontend image (from source, frontend.Dockerfile)
#   docker buildx bake extensions --push         the collection, through the frontend in KILN_IMAGE
# Set DEBIAN_MIRROR to a Debian archive (`hack/debian-mirror.sh` prints this machine's). The tests check
# that the targets and tags here match `make targets` and the extensions' VERSION.

variable "REGISTRY" {
  default = "127.0.0.1:5000"
}

# The frontend image's tag, and the frontend the extensions are built with.
variable "KILN_TAG" {
  default = "dev"
}

variable "KILN_IMAGE" {
  default = "kiln:dev"
}

variable "DEBIAN_MIRROR" {
  default = ""
}

# Replaces the Pkgfile's busybox toolchain; docker-image://docker.io/library/busybox:1.37-musl where
# Docker Hub is reachable.
variable "TOOLCHAIN_IMAGE" {
  default = "docker-image://kiln-test/busybox:latest"
}

# The Talos kernel image dummy-netdev takes its module from.
variable "KERNEL_IMAGE" {
  default = "docker-image://ghcr.io/siderolabs/kernel:v1.11.0"
}

group "default" {
  targets = ["extensions"]
}

group "extensions" {
  targets = ["android-udev-rules", "ath9k-htc-firmware", "dummy-netdev", "gvisor", "hello-service"]
}

target "frontend" {
  context    = "."
  dockerfile = "frontend.Dockerfile"
  target     = "release"
  platforms  = ["linux/amd64", "linux/arm64"]
  tags       = ["${REGISTRY}/kiln:${KILN_TAG}"]
}

target "_extension" {
  context    = "extensions"
  dockerfile = "Pkgfile"
  platforms  = ["linux/amd64", "linux/arm64"]
  args = {
    BUILDKIT_SYNTAX = KILN_IMAGE
    DEBIAN_MIRROR   = DEBIAN_MIRROR
  }
  contexts = {
    "docker.io/library/busybox:1.37-musl" = TOOLCHAIN_IMAGE
  }
}

target "android-udev-rules" {
  inherits = ["_extension"]
  target   = "android-udev-rules"
  tags     = ["${REGISTRY}/android-udev-rules:v28.0.2-9"]
}

target "ath9k-htc-firmware" {
  inherits = ["_extension"]
  target   = "ath9k-htc-firmware"
  tags     = ["${REGISTRY}/ath9k-htc-firmware:v1.4.0-108-deb12u1"]
}

target "dummy-netdev" {
  inherits = ["_extension"]
  target   = "dummy-netdev"
  tags     = ["${REGISTRY}/dummy-netdev:v1.11.0"]
  contexts = {
    "ghcr.io/siderolabs/kernel:v1.11.0" = KERNEL_IMAGE
  }
}

target "gvisor" {
  inherits = ["_extension"]
  target   = "gvisor"
  tags     = ["${REGISTRY}/gvisor:v0.0.20221219-2"]
}

target "hello-service" {
  inherits = ["_extension"]
  target   = "hello-service"
  tags     = ["${REGISTRY}/hello-service:v1.0.0"]
}
