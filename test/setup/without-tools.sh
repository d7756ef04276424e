#!/usr/bin/env bash
# Runs a command as on a fresh machine: the system tools of test/setup/system-tools.ts (and sudo)
# hidden from /usr/bin and /usr/sbin, in a private mount namespace that nothing else sees.
# Needs root (unshare -m). Example: test/setup/without-tools.sh npx bun test test/store/redis.test.ts
# Inside, the pretest behaves as without root (IVSF_PRETEST_NOT_ROOT=1; sudo is hidden too): an
# apt-get run there would write into the hidden view while dpkg records the install machine-wide.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "without-tools.sh needs root (a private mount namespace)" >&2; exit 2; }
[ $# -gt 0 ] || { echo "usage: $0 <command> [args…]" >&2; exit 2; }

hide="$(node_modules/.bin/bun test/setup/system-tools.ts commands) sudo"
# An empty folder on the host; inside the namespace a tmpfs is mounted on it, so everything made
# there (the link folders, the views of the real /usr/bin and /usr/sbin) vanishes with the namespace.
work=$(mktemp -d /tmp/without-tools.XXXXXX)
trap 'rmdir "$work"' EXIT

IVSF_PRETEST_NOT_ROOT=1 HIDE="$hide" WORK="$work" unshare --mount --propagation private bash -c '
  set -euo pipefail
  mount -t tmpfs none "$WORK"
  for dir in bin sbin; do
    mkdir "$WORK/real-$dir" "$WORK/$dir"
    mount --bind "/usr/$dir" "$WORK/real-$dir"
    for entry in "$WORK/real-$dir"/*; do
      name=${entry##*/}
      case " $HIDE " in *[[:space:]]"$name"[[:space:]]*) continue ;; esac
      if [ -L "$entry" ]; then
        # A link keeps its target, read from /usr/$dir (npm -> ../lib/node_modules/npm/bin/npm-cli.js).
        target=$(readlink "$entry")
        case $target in /*) ;; *) target="/usr/$dir/$target" ;; esac
        ln -s "$target" "$WORK/$dir/$name"
      else
        ln -s "$entry" "$WORK/$dir/$name"
      fi
    done
    mount --bind "$WORK/$dir" "/usr/$dir"
  done
  exec "$@"
' without-tools "$@"
