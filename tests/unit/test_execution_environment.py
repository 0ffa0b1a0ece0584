"""The execution environment's definition (execution-environment.yml) and the build context that
``ansible-builder create`` makes from it (scripts/ee.sh create): what would be installed in the image."""

import json
import os
import re
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONTEXT = os.path.join(ROOT, ".cache", "ee", "context")


def pins(path):
    """``{name: version}`` of the ``name==version`` lines of a requirements file."""
    with open(os.path.join(ROOT, path)) as f:
        return dict(re.match(r"^([A-Za-z0-9_.\[\]-]+)==(\S+)", line).groups() for line in f
                    if re.match(r"^[A-Za-z0-9_.\[\]-]+==", line))


def pin(requirement):
    name, version = requirement.split("==")
    return name, version


@pytest.fixture(scope="module")
def context():
    subprocess.run([os.path.join(ROOT, "scripts", "ee.sh"), "create"], check=True, capture_output=True, text=True)
    return CONTEXT


@pytest.fixture(scope="module")
def definition():
    with open(os.path.join(ROOT, "execution-environment.yml")) as f:
        return yaml.safe_load(f)


def test_pins_agree_with_what_the_tests_run(definition):
    """ansible-core, ansible-runner and the ``ansible`` package are the versions the test suite ran on."""
    dev, lock = pins("requirements-dev.txt"), pins("requirements.lock")
    deps = definition["dependencies"]
    wanted = [pin(deps["ansible_core"]["package_pip"]), pin(deps["ansible_runner"]["package_pip"])]
    wanted += [pin(r) for r in deps["python"]]
    for name, version in wanted:
        assert dev.get(name) == version, "%s: EE %s, requirements-dev.txt %s" % (name, version, dev.get(name))
        assert lock.get(name) == version, "%s: EE %s, requirements.lock %s" % (name, version, lock.get(name))


def test_context_installs_this_collection(context):
    with open(os.path.join(context, "_build", "requirements.yml")) as f:
        wanted = yaml.safe_load(f)["collections"]
    assert wanted == [{"name": "collections/tenrec-dataplane.tar.gz", "type": "file"}]
    with open(os.path.join(ROOT, "galaxy.yml")) as f:
        galaxy = yaml.safe_load(f)
    with tarfile.open(os.path.join(context, "_build", "collections", "tenrec-dataplane.tar.gz")) as tar:
        names = set(tar.getnames())
        info = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == (galaxy["namespace"], galaxy["name"], galaxy["version"])
    for needed in ("meta/execution-environment.yml", "requirements.txt", "meta/runtime.yml",
                   "playbooks/site.yml", "plugins/modules/controlplane_info.py", "plugins/inventory/nodeset.py",
                   "roles/nova_compute/tasks/main.yml"):
        assert needed in names, needed
    assert not [n for n in names if n.split("/")[0] in (".venv", ".cache", "lab", ".git")]


def test_context_containerfile(context, definition):
    with open(os.path.join(context, "Containerfile")) as f:
        text = f.read()
    assert 'ARG EE_BASE_IMAGE="%s"' % definition["images"]["base_image"]["name"] in text
    core, runner = (definition["dependencies"][k]["package_pip"] for k in ("ansible_core", "ansible_runner"))
    assert 'ARG ANSIBLE_INSTALL_REFS="%s %s"' % (core, runner) in text
    # Galaxy is not asked for the collection's dependencies; the ``ansible`` package brings them.
    assert 'ARG ANSIBLE_GALAXY_CLI_COLLECTION_OPTS="--no-deps"' in text
    assert "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in text


def test_introspection_finds_the_collection_python_libraries(context, tmp_path):
    """ansible-builder's own introspection, on the collection as the EE installs it, yields every
    library of requirements.txt at its pin, plus the ``ansible`` package the definition adds."""
    collections = tmp_path / "ansible_collections" / "tenrec" / "dataplane"
    collections.mkdir(parents=True)
    with tarfile.open(os.path.join(context, "_build", "collections", "tenrec-dataplane.tar.gz")) as tar:
        tar.extractall(collections, filter="data")
    out = tmp_path / "requirements.txt"
    subprocess.run([sys.executable, os.path.join(context, "_build", "scripts", "introspect.py"), "introspect",
                    "--user-pip", os.path.join(context, "_build", "requirements.txt"), "--write-pip", str(out),
                    str(tmp_path)], check=True, capture_output=True, text=True)
    found = pins(str(out))
    for name, version in pins("requirements.txt").items():
        assert found.get(name) == version, "%s: %s in the EE, %s in requirements.txt" % (name, found.get(name), version)
    assert found.get("ansible") == pins("requirements-dev.txt")["ansible"]
