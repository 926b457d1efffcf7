#!/bin/sh
# Builds the C peers sockref is compared with into target/peers/:
#   thread_echo  TCP echo, one pthread per connection
#   udp_echo     UDP echo, one recvfrom()/sendto() loop
# Needs only a C compiler (CC, default cc). Run from anywhere.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../../target/peers"
mkdir -p "$out"
for peer in thread_echo udp_echo; do
    ${CC:-cc} -O2 -pthread -Wall -Wextra -o "$out/$peer" "$here/$peer.c"
done
echo "built: $(cd "$out" && pwd)/thread_echo $(cd "$out" && pwd)/udp_echo"
