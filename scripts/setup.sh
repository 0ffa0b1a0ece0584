#!/usr/bin/env bash
# Set up everything the project needs on a Debian 12 machine (root, Python 3.11):
#   1. apt packages for the lab (podman, runc, debootstrap, ...), only those missing;
#   2. the virtualenv .venv with requirements.lock, only when the lock changed;
#   3. the collection symlink under .cache/collections, so `tenrec.dataplane` resolves;
#   4. the lab host image (scripts/build-image.sh), only when its recipe changed.
# Re-running on a prepared machine changes nothing and takes a few seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/env.sh
. "$here/scripts/env.sh"
start=$(date +%s)

apt_packages=(podman runc debootstrap iproute2 iptables rsync git make python3-venv
              ca-certificates openssl openssh-client shellcheck cpio xz-utils)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${TENREC_PYTHON:-}
if [ -z "$python" ]; then
  for c in python3.11 python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      python=$(command -v "$c"); break
    fi
  done
fi
[ -n "$python" ] || { echo "setup: Python >= 3.11 is required" >&2; exit 1; }

lock_hash=$(sha256sum <"$here/requirements.lock" | cut -c1-16)
stamp="$TENREC_VENV/.tenrec-lock"
if [ ! -x "$TENREC_VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
  echo "setup: creating virtualenv $TENREC_VENV"
  [ -x "$TENREC_VENV/bin/python" ] || "$python" -m venv "$TENREC_VENV"
  "$TENREC_VENV/bin/python" -m pip install -q --upgrade pip
  "$TENREC_VENV/bin/python" -m pip install -q -r "$here/requirements.lock"
  echo "$lock_hash" >"$stamp"
fi

link="$here/.cache/collections/ansible_collections/tenrec/dataplane"
if [ "$(readlink "$link" 2>/dev/null)" != "$here" ]; then
  mkdir -p "$(dirname "$link")"
  ln -sfn "$here" "$link"
fi

# ansible-test bootstraps pip in its sanity virtualenvs with a script it downloads from a host
# that is not reachable here; give it the offline stand-in under the name it looks for.
pip_version=$("$TENREC_VENV/bin/python" - <<'PY'
import re, ansible_test, pathlib
src = (pathlib.Path(ansible_test.__file__).parent / "_internal/python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
get_pip="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if ! cmp -s "$here/scripts/get-pip-offline.py" "$get_pip"; then
  mkdir -p "$(dirname "$get_pip")" && cp "$here/scripts/get-pip-offline.py" "$get_pip"
fi

"$here/scripts/build-image.sh"
echo "setup: done in $(( $(date +%s) - start )) s"
