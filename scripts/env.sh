# shellcheck shell=bash
# Environment shared by every project script: podman settings, the virtualenv, collection path.
TENREC_ROOT=${TENREC_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export TENREC_ROOT
export CONTAINERS_CONF="$TENREC_ROOT/lab/podman/containers.conf"
export TENREC_VENV=${TENREC_VENV:-$TENREC_ROOT/.venv}
export PATH="$TENREC_VENV/bin:$PATH"
export ANSIBLE_CONFIG="$TENREC_ROOT/ansible.cfg"
# The checkout as the collection tenrec.dataplane (the symlink scripts/setup.sh makes), also where
# ansible.cfg is not read: molecule runs Ansible with an ansible.cfg of its own.
export ANSIBLE_COLLECTIONS_PATH="$TENREC_ROOT/.cache/collections"
export TENREC_LAB_IMAGE=${TENREC_LAB_IMAGE:-localhost/tenrec-lab-debian12:latest}
