# shellcheck shell=bash
# Where the current environment (Python 3.14, Home Assistant 2026.x) lives; sourced by
# scripts/setup and scripts/current. With a python3.14 (>= 3.14.2) on PATH the venvs are in the
# repository (.venv-current, .venv-current-run); otherwise they live inside a Debian sid chroot
# (machine-wide cache, shared by clones; every command runs in a private mount namespace, so no
# mount outlives it).
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SID_ROOT="${MARSTEK_SID_ROOT:-/var/cache/marstek-strategy/sid}"
# What the chroot is built from; a change of this line rebuilds it.
SID_PACKAGES="python3.14 python3.14-venv python3.14-dev build-essential git ca-certificates"

# A python3.14 >= 3.14.2 on PATH, or nothing.
host_python314() {
  local candidate
  for candidate in python3.14 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.14*/bin/python3.14; do
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; assert sys.version_info >= (3, 14, 2)' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

# The venv directory for a requirements file: "test" or "run".
current_req() {
  case "$1" in
    test) echo "$REPO/requirements_test_current.txt" ;;
    run) echo "$REPO/requirements_run_current.txt" ;;
    *) echo "error: unknown environment '$1' (test or run)" >&2; return 2 ;;
  esac
}

current_hash() { sha256sum < "$(current_req "$1")" | cut -c1-16; }

# Prints "host" or "chroot" (the mode scripts/setup chose), from the marker it leaves.
current_mode() {
  if [ -n "${MARSTEK_CURRENT_MODE:-}" ]; then echo "$MARSTEK_CURRENT_MODE"; return; fi
  if host_python314 >/dev/null; then echo host; else echo chroot; fi
}

# The venv path as seen by the Python that runs it.
current_venv() {
  local kind="$1"
  if [ "$(current_mode)" = host ]; then
    [ "$kind" = test ] && echo "$REPO/.venv-current" || echo "$REPO/.venv-current-run"
  else
    echo "/opt/marstek/$kind-$(current_hash "$kind")"
  fi
}

# Run a command in the sid chroot with the repository bind-mounted at its own path, in a
# private mount namespace (proc, sys, dev, dev/pts, a tmpfs on dev/shm, resolv.conf): the mounts
# end with the command. Environment: a clean one plus the few variables the tools need.
# shellcheck disable=SC2016
IN_CHROOT_SCRIPT='
    root="$1"; repo="$2"; cwd="$3"; shift 3
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --bind /dev "$root/dev"
    mount --bind /dev/pts "$root/dev/pts"
    mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
    [ -f /etc/resolv.conf ] && { touch "$root/etc/resolv.conf"; mount --bind /etc/resolv.conf "$root/etc/resolv.conf"; }
    mkdir -p "$root$repo"
    mount --bind "$repo" "$root$repo"
    # The project variables (MARSTEK_*: the dev port and config, the simulator speed,
    # board API and ports) and PYTHONPATH cross into the clean environment.
    keep=()
    while IFS= read -r line; do keep+=("$line"); done < <(env | grep -E "^(MARSTEK_[A-Z0-9_]+|PYTHONPATH)=" || true)
    exec chroot "$root" /usr/bin/env -i \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" CI="${CI:-}" \
      PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 \
      PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
      REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
      "${keep[@]}" \
      /bin/bash -c "cd \"\$0\" && exec \"\$@\"" "$cwd" "$@"
  '
# With CHROOT_EXEC=1 the shell is replaced (signals reach the command directly).
in_chroot() {
  local cmd=(unshare --mount --propagation private -- bash -euc "$IN_CHROOT_SCRIPT" in-chroot
    "$SID_ROOT" "$REPO" "$PWD" "$@")
  if [ "${CHROOT_EXEC:-}" = 1 ]; then
    exec "${cmd[@]}"
  fi
  "${cmd[@]}"
}
