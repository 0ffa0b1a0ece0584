"""deploy/services/*.yaml: the OpenStackDataPlaneServices that let openstack-operator
run this collection's playbooks. Applied to the test server and a real kube-apiserver, whose CRD is the real one (a field the
CRD does not know would be refused or pruned), and checked against the collection and its EE."""

import pytest
import yaml
from kubernetes import client

from kube_support import CRDS, ROOT, run_play

pytestmark = pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/crds is not there")


@pytest.fixture(scope="module")
def kubeconfig(api_kubeconfig):
    """The API tests here run on both servers (``api_server``): the test server and a real kube-apiserver."""
    return api_kubeconfig


@pytest.fixture
def k8s(api_client):
    return api_client


GROUP, VERSION = "dataplane.openstack.org", "v1beta1"
NAMESPACE = "openstack"
ORDER = ["tenrec-prechecks", "tenrec-dataplane", "tenrec-discover"]
SERVICES = [yaml.safe_load((ROOT / "deploy" / "services" / (name + ".yaml")).read_text()) for name in ORDER]


def test_every_service_runs_a_playbook_of_the_collection_from_its_ee():
    tag = yaml.safe_load((ROOT / "execution-environment.yml").read_text())["options"]["tags"][0]
    assert sorted(p.stem for p in (ROOT / "deploy" / "services").glob("*.yaml")) == sorted(ORDER)
    assert [s["metadata"]["name"] for s in SERVICES] == ORDER
    for service in SERVICES:
        namespace, name, playbook = service["spec"]["playbook"].split(".")
        assert (namespace, name) == ("tenrec", "dataplane")
        assert (ROOT / "playbooks" / (playbook + ".yml")).is_file(), playbook
        assert service["spec"]["openStackAnsibleEERunnerImage"] == tag


def test_services_are_valid_for_the_real_crd(k8s):
    api = client.CustomObjectsApi(k8s)
    try:
        for service in SERVICES:
            api.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "openstackdataplaneservices", service)
            stored = api.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "openstackdataplaneservices",
                                                      service["metadata"]["name"])
            # nothing pruned; what the CRD defaults is added, never changed
            assert {k: stored["spec"][k] for k in service["spec"]} == service["spec"]
    finally:
        for service in SERVICES:
            try:
                api.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "openstackdataplaneservices",
                                                    service["metadata"]["name"])
            except client.ApiException:
                pass


def test_a_nodeset_lists_the_services(kubeconfig, k8s, tmp_path):
    """What the main job registers with ``tenrec_nodeset_services`` set to these services."""
    names = [s["metadata"]["name"] for s in SERVICES]
    rc, out, _res = run_play(tmp_path, [{
        "name": "Register", "register": "nodeset",
        "tenrec.dataplane.dataplane_nodeset": {
            "kubeconfig": kubeconfig, "namespace": NAMESPACE, "name": "tenrec-services-test",
            "nodes": [{"hostname": "compute-0", "ansible_host": "10.88.30.5"}], "services": names}}])
    assert rc == 0, out[-2000:]
    api = client.CustomObjectsApi(k8s)
    try:
        nodeset = api.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "openstackdataplanenodesets",
                                                   "tenrec-services-test")
        assert nodeset["spec"]["services"] == names
    finally:
        api.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "openstackdataplanenodesets",
                                            "tenrec-services-test")
