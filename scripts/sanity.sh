#!/usr/bin/env bash
# ansible-test sanity on the collection. ansible-test needs the collection under
# ansible_collections/<namespace>/<name>/, so the files git knows (tracked and untracked,
# not ignored, still present) are copied to a tree outside the repository.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# Outside the git work tree: inside it, ansible-test would list files through git and see none.
dest="${TMPDIR:-/var/tmp}/tenrec-sanity-$(echo "$here" | sha256sum | cut -c1-8)/ansible_collections/tenrec/dataplane"
rm -rf "$dest" && mkdir -p "$dest"
cd "$here"
git ls-files --cached --others --exclude-standard | while read -r f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  rsync -a --from0 --files-from=- "$here/" "$dest/"
# Collections ours imports from (galaxy.yml dependencies) must sit beside it.
deps=$(python -c 'import ansible_collections, os; print(os.path.dirname(ansible_collections.__path__[0]) + "/ansible_collections")')
ln -sfn "$deps/kubernetes" "$dest/../../kubernetes"
ln -sfn "$deps/openstack" "$dest/../../openstack"
cd "$dest"
ansible-test sanity --python 3.11 --color no --skip-test pslint "$@"
