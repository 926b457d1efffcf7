#!/bin/sh
# Builds the peers sockref is compared with into target/peers/:
#   thread_echo      C: TCP echo, one pthread per connection
#   udp_echo         C: UDP echo, one recvfrom()/sendto() loop
#   tokio_echo       Rust: TCP (and --udp) echo, a task per connection on tokio
#   hyper_hello      Rust: HTTP/1.1 plaintext answer, hyper 1 on tokio
#   tiny_http_hello  Rust: HTTP/1.1 plaintext answer, tiny_http 0.12 (blocking)
#
#   usage: benches/peers/build.sh [c | rust | all]     (default: all)
#
# The C peers need a C compiler (CC, default cc). The Rust peers are
# standalone Cargo projects (not part of sockref's crate, whose dependencies
# stay empty), each with its committed Cargo.lock, built with
# `cargo build --release --locked` into one shared target directory,
# target/peers-build, so that tokio is compiled once for both tokio peers.
# Their first build fetches crates from crates.io; after that a run with
# nothing changed takes about a second. Run from anywhere.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/target/peers"
what="${1:-all}"
case "$what" in
    c | rust | all) ;;
    *) echo "usage: $0 [c | rust | all]" >&2; exit 2 ;;
esac
mkdir -p "$out"

# Puts a built binary in place by rename, so that a peer still running from
# the old file is not disturbed (overwriting it in place fails: ETXTBSY).
install_peer() {
    if ! cmp -s "$1" "$out/$2"; then
        cp "$1" "$out/.$2.new" && mv -f "$out/.$2.new" "$out/$2"
    fi
}

built=""
if [ "$what" != rust ]; then
    cc="${CC:-cc}"
    if ! command -v "${cc%% *}" >/dev/null 2>&1; then
        echo "$0: no C compiler '$cc' on PATH: install gcc (apt-get install gcc) or set CC" >&2
        exit 1
    fi
    for peer in thread_echo udp_echo; do
        # Rebuild only when the source (or this script) is newer than the binary.
        if [ ! -x "$out/$peer" ] || [ "$here/$peer.c" -nt "$out/$peer" ] || [ "$0" -nt "$out/$peer" ]; then
            # shellcheck disable=SC2086 # CC may be a command with flags ("ccache gcc")
            $cc -O2 -pthread -Wall -Wextra -o "$out/.$peer.new" "$here/$peer.c"
            mv -f "$out/.$peer.new" "$out/$peer"
        fi
        built="$built $out/$peer"
    done
fi

if [ "$what" != c ]; then
    cargo="${CARGO:-cargo}"
    if ! command -v "$cargo" >/dev/null 2>&1; then
        echo "$0: cargo not found on PATH: install Rust (https://rustup.rs), or build only the C peers with '$0 c'" >&2
        exit 1
    fi
    if [ ! -d "$root/target/peers-build/release" ]; then
        echo "$0: first build of the Rust peers: fetching crates and compiling (about 40 s on 2 CPUs)" >&2
    fi
    for peer in tokio_echo hyper_hello tiny_http_hello; do
        "$cargo" build --release --locked --quiet \
            --manifest-path "$here/$peer/Cargo.toml" --target-dir "$root/target/peers-build"
        install_peer "$root/target/peers-build/release/$peer" "$peer"
        built="$built $out/$peer"
    done
fi
echo "built:$built"
