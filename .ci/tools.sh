# Sourced by .ci/test and .ci/serve: installs what the browser build and tests need, only when
# it is missing or the wrong version, and puts it on PATH. Run from the repository root.
# Everything comes from crates.io, Debian or npm.

# wasm-bindgen-cli must match the wasm-bindgen crate exactly, so read the version from Cargo.lock.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)"

export PATH="$PWD/web/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# A target dir outside the clone: warm runs reuse it, a fresh one still passes cold. (The tool
# installs below build in a temporary dir of their own, as cargo install does by default.)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/skin-lesion-target}"
mkdir -p "$CARGO_TARGET_DIR"

step() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    step "rustup target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
fi

if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$WASM_BINDGEN_VERSION" ]; then
    step "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
    env -u CARGO_TARGET_DIR cargo install --force wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

if ! command -v chromium >/dev/null; then
    step "apt-get install chromium"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi

# wasm-opt (npm binaryen@132: Debian's binaryen 108 breaks the module), playwright-core and axe-core.
if [ ! -x web/node_modules/.bin/wasm-opt ] || [ ! -d web/node_modules/playwright-core ] || [ ! -d web/node_modules/axe-core ] \
    || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    step "npm ci (web/)"
    (cd web && npm ci --no-audit --no-fund)
fi
