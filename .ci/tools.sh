# Sourced by .ci/test and .ci/serve: installs what the browser build and tests need, only when
# it is missing or the wrong version, and puts it on PATH. Everything comes from crates.io,
# Debian or npm; trunk itself never downloads (Trunk.toml sets offline = true).

TRUNK_VERSION=0.21.14   # trunk 0.22 needs a newer rustc than this toolchain
# wasm-bindgen-cli must match the wasm-bindgen crate exactly, so read the version from Cargo.lock.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)"

export PATH="$PWD/web/node_modules/.bin:$HOME/.cargo/bin:$PATH"

tool_step() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    tool_step "rustup target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
fi

if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
    tool_step "cargo install trunk $TRUNK_VERSION"
    cargo install --locked --force "trunk@$TRUNK_VERSION"
fi

if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$WASM_BINDGEN_VERSION" ]; then
    tool_step "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
    cargo install --force wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    tool_step "apt-get install chromium chromium-driver"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi

# wasm-opt (npm binaryen@132: Debian's binaryen 108 breaks the module) and playwright-core.
if [ ! -x web/node_modules/.bin/wasm-opt ] || [ ! -d web/node_modules/playwright-core ] \
    || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    tool_step "npm ci (web/)"
    (cd web && npm ci --no-audit --no-fund)
fi
