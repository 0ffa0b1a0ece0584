"""Stand-in for ansible-test's get-pip bootstrap script, which it downloads from a host this
project's machines cannot reach. ansible-test runs it inside each new sanity-test virtualenv with
pip's install arguments; this bootstraps the pip that Python bundles (ensurepip, offline) and then
lets that pip install what ansible-test asked for from the package index.

scripts/setup.sh copies it to ~/.ansible/test/cache/get_pip_<version>.py.
"""

import ensurepip
import os
import subprocess
import sys

GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

# ensurepip turns pip's configuration off (PIP_CONFIG_FILE=/dev/null) in this process; the
# install below must see the machine's pip configuration (index, CA bundle) again.
environ = dict(os.environ)
ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args, env=environ))
