# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: nodeset
short_description: Compute nodes from the control plane's OpenStackDataPlaneNodeSets
version_added: 0.1.0
author: tenrec.dataplane developers (@tenrec)
description:
  - Reads C(OpenStackDataPlaneNodeSet) objects (C(dataplane.openstack.org/v1beta1)) through the
    Kubernetes API and makes an inventory of their nodes, as openstack-operator does for the
    inventory of a NodeSet.
  - Each NodeSet is a group named after it, made a valid group name (every character other than
    letters, digits and C(_), and a leading digit, becomes C(_), so C(tenrec-computes) is the group
    C(tenrec_computes)).
    Its group vars are C(ansible_user) and C(ansible_port) from C(spec.nodeTemplate.ansible),
    C(edpm_nodeset_name) (the NodeSet's name), then C(spec.nodeTemplate.ansible.ansibleVars).
  - Each entry of C(spec.nodes) is a host named by the first label of its C(hostName) (the node's
    key when there is no C(hostName)), as openstack-operator names it. Its host vars are
    C(ansible_host) (C(ansible.ansibleHost), else C(hostName), else the node's key),
    C(ansible_user) and C(ansible_port) when the node sets them, C(<network>_ip) (network name in
    lower case) for each of its C(networks) with a C(fixedIP), then the node's C(ansible.ansibleVars).
    Host vars override the NodeSet's group vars, so a node's values win over the template's.
  - C(ansible_port) is an integer. Addresses openstack-operator's IPAM allocates (IPSet status),
    C(ansibleVarsFrom) ConfigMaps and Secrets, and the variables the operator adds for its own
    services (container images, C(edpm_services), ...) are not read; a NodeSet that uses
    C(ansibleVarsFrom) gets a warning naming it.
  - Every NodeSet group is a child of the group O(group) (C(computes) by default, the group this
    collection's playbooks target).
  - Values from the API are data, not templates (the plugin does not mark them trusted).
  - A host named by two NodeSets, or by two nodes of one NodeSet, and two NodeSets whose names make
    the same group name, fail naming both. Errors name the NodeSet (or the list) and the namespace,
    never a variable's value.
  - Authentication is that of the collection's modules (kubernetes.core's options and its
    C(K8S_AUTH_*) environment variables for options not set in the file).
  - The inventory file is YAML, named C(nodeset.yml), C(nodeset.yaml) or ending in
    C(.nodeset.yml), C(.nodeset.yaml), C(_nodeset.yml) or C(_nodeset.yaml) (e.g.
    C(tenrec_nodeset.yml)).
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - kubernetes.core.k8s_auth_options
options:
  plugin:
    description: The name of this plugin.
    type: str
    required: true
    choices: [tenrec.dataplane.nodeset]
  namespace:
    description: Namespace of the NodeSets.
    type: str
    default: openstack
  nodesets:
    description:
      - Names of the NodeSets to read; empty means every NodeSet in O(namespace) (that matches
        O(label_selector)).
      - A NodeSet named here that does not exist, or does not match O(label_selector), fails the
        inventory naming it.
    type: list
    elements: str
    default: []
  label_selector:
    description: Kubernetes label selector the NodeSets must match (e.g. C(tenrec/role=compute)).
    type: str
    default: ""
  group:
    description:
      - Group whose children are all the NodeSet groups; empty means none.
      - This collection's playbooks run on C(computes).
    type: str
    default: computes
requirements:
  - kubernetes >= 24.2.0
notes:
  - With O(cache) on, the cache holds the NodeSets' variables, ansibleVars included; keep
    O(cache_connection) private. C(ansible-inventory --flush-cache) reads the API again.
"""

EXAMPLES = r"""
# tenrec.nodeset.yml: every NodeSet in the namespace openstack, with the current kubeconfig
plugin: tenrec.dataplane.nodeset

# lab.nodeset.yml: one NodeSet, an explicit kubeconfig, cached for an hour
# plugin: tenrec.dataplane.nodeset
# kubeconfig: ~/.kube/openstack
# namespace: openstack
# nodesets: [tenrec-computes]
# cache: true
# cache_plugin: ansible.builtin.jsonfile
# cache_connection: ~/.cache/tenrec-nodeset
# cache_timeout: 3600

# by.label.nodeset.yml: NodeSets with a label, grouped by a variable they set
# plugin: tenrec.dataplane.nodeset
# label_selector: tenrec/site=dc1
# keyed_groups:
#   - key: rack | default('none')
#     prefix: rack
# compose:
#   ansible_python_interpreter: "'/usr/bin/python3'"
"""

import os
import re

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.inventory.group import to_safe_group_name
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.display import Display

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
    from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import (
        DynamicApiError, NotFoundError, Urllib3Error, describe_api_error)
    from kubernetes.dynamic.exceptions import ResourceNotFoundError
    HAS_K8S = True
    K8S_IMPORT_ERROR = None
except ImportError as exc:  # the plugin says what is missing when it is used
    HAS_K8S = False
    K8S_IMPORT_ERROR = exc

display = Display()

API_VERSION = "dataplane.openstack.org/v1beta1"
KIND = "OpenStackDataPlaneNodeSet"
FILE_NAME = re.compile(r"(^|[._])nodeset\.ya?ml$")
# kubernetes.core's auth options, passed to get_api_client when set (unset ones fall back to K8S_AUTH_*)
AUTH_OPTIONS = ("kubeconfig", "context", "host", "api_key", "username", "password", "validate_certs", "ca_cert",
                "client_cert", "client_key", "proxy", "no_proxy", "proxy_headers", "persist_config",
                "impersonate_user", "impersonate_groups")


def group_name(name):
    """``name`` as a valid Ansible group name (``tenrec-computes`` -> ``tenrec_computes``)."""
    return to_safe_group_name(name, force=True, silent=True)


def host_name(key, node):
    """Inventory name of node ``key``: the first label of its hostName, else the key (as openstack-operator)."""
    return (node.get("hostName") or "").split(".")[0] or key


def ansible_opts(section):
    """``section.ansible`` as a dict, ``{}`` when absent or not one."""
    opts = (section or {}).get("ansible")
    return opts if isinstance(opts, dict) else {}


def node_vars(key, node):
    """Host vars of one ``spec.nodes`` entry, before compose."""
    opts = ansible_opts(node)
    hostvars = {"ansible_host": opts.get("ansibleHost") or node.get("hostName") or key}
    if opts.get("ansibleUser"):
        hostvars["ansible_user"] = opts["ansibleUser"]
    if opts.get("ansiblePort"):
        hostvars["ansible_port"] = int(opts["ansiblePort"])
    for network in node.get("networks") or []:
        if isinstance(network, dict) and network.get("name") and network.get("fixedIP"):
            hostvars["%s_ip" % network["name"].lower()] = network["fixedIP"]
    hostvars.update(opts.get("ansibleVars") or {})
    return hostvars


def nodeset_inventory(obj):
    """What one NodeSet object (dict) contributes: ``{name, group, vars, hosts: [{name, node, vars}]}``.

    Only this (not the object, whose managedFields and status are of no use) goes into the cache.

    :raises AnsibleParserError: two nodes of the NodeSet have the same inventory name (the message
        names the NodeSet and both node keys).
    """
    name = obj["metadata"]["name"]
    where = "%s %s in namespace %s" % (KIND, name, obj["metadata"].get("namespace"))
    spec = obj.get("spec") or {}
    template = ansible_opts(spec.get("nodeTemplate"))
    groupvars = {}
    if template.get("ansibleUser"):
        groupvars["ansible_user"] = template["ansibleUser"]
    if template.get("ansiblePort"):
        groupvars["ansible_port"] = int(template["ansiblePort"])
    groupvars["edpm_nodeset_name"] = name
    groupvars.update(template.get("ansibleVars") or {})
    vars_from = ["spec.nodeTemplate"] if template.get("ansibleVarsFrom") else []
    hosts, seen = [], {}
    for key in sorted(spec.get("nodes") or {}):
        node = spec["nodes"][key] or {}
        host = host_name(key, node)
        if host in seen:
            raise AnsibleParserError("%s: nodes %s and %s are both the host %s (the first label of hostName)"
                                     % (where, seen[host], key, host))
        seen[host] = key
        if ansible_opts(node).get("ansibleVarsFrom"):
            vars_from.append("spec.nodes.%s" % key)
        hosts.append({"name": host, "node": key, "vars": node_vars(key, node)})
    return {"name": name, "group": group_name(name), "vars": groupvars, "hosts": hosts,
            "vars_from": vars_from}


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Hosts from OpenStackDataPlaneNodeSets."""

    NAME = "tenrec.dataplane.nodeset"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and bool(FILE_NAME.search(os.path.basename(path)))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache")
        results, update = None, False
        if use_cache and cache:
            try:
                results = self._cache[cache_key]
            except KeyError:
                update = True
        elif use_cache:
            update = True  # --flush-cache: read the API and refresh the cache
        if results is None:
            results = self.fetch()
        if update:
            self._cache[cache_key] = results
        self.populate(results)

    # ----- reading the API ----------------------------------------------------------------------
    def fetch(self):
        """The NodeSets as :func:`nodeset_inventory` dicts, sorted by name."""
        if not HAS_K8S:
            raise AnsibleError("the tenrec.dataplane.nodeset inventory needs the kubernetes Python library and "
                               "the kubernetes.core collection: %s" % to_native(K8S_IMPORT_ERROR))
        namespace = self.get_option("namespace")
        names = self.get_option("nodesets") or []
        selector = self.get_option("label_selector") or None
        auth = dict((o, self.get_option(o)) for o in AUTH_OPTIONS if self.get_option(o) is not None)
        host = auth.get("host")
        what = "%ss in namespace %s" % (KIND, namespace)
        try:
            client = get_api_client(**auth)
            host = host or getattr(client.configuration, "host", None)
            resource = client.resource(KIND, API_VERSION)
        except CoreException as exc:  # kubernetes.core: no usable kubeconfig / context
            raise AnsibleParserError("cannot read %s: %s" % (what, to_native(exc)))
        except ResourceNotFoundError:
            raise AnsibleParserError("cannot read %s: the Kubernetes API at %s does not serve %s (%s); is "
                                     "openstack-operator installed?" % (what, host, KIND, API_VERSION))
        except (DynamicApiError, Urllib3Error) as exc:
            raise AnsibleParserError("cannot read %s: %s" % (what, describe_api_error(exc, host)))
        if names and not selector:
            objects = [self._get(resource, name, namespace, host) for name in names]
        else:
            try:
                listed = resource.get(namespace=namespace, label_selector=selector).to_dict().get("items") or []
            except (DynamicApiError, Urllib3Error) as exc:
                raise AnsibleParserError("cannot list %s%s: %s" % (
                    what, " with label_selector %s" % selector if selector else "", describe_api_error(exc, host)))
            found = dict((o["metadata"]["name"], o) for o in listed)
            if names:
                for name in names:
                    if name not in found:
                        self._get(resource, name, namespace, host)  # fails naming it when it does not exist
                        raise AnsibleParserError("%s %s in namespace %s does not match label_selector %s"
                                                 % (KIND, name, namespace, selector))
                objects = [found[name] for name in names]
            else:
                objects = list(found.values())
        unique = dict((o["metadata"]["name"], o) for o in objects)
        return [nodeset_inventory(unique[name]) for name in sorted(unique)]

    @staticmethod
    def _get(resource, name, namespace, host):
        try:
            return resource.get(name=name, namespace=namespace).to_dict()
        except NotFoundError:
            raise AnsibleParserError("%s %s not found in namespace %s (named in nodesets)" % (KIND, name, namespace))
        except (DynamicApiError, Urllib3Error) as exc:
            raise AnsibleParserError("cannot read %s %s in namespace %s: %s" % (
                KIND, name, namespace, describe_api_error(exc, host)))

    # ----- building the inventory ---------------------------------------------------------------
    def populate(self, results):
        """Groups, hosts, variables and the constructed groups from ``results`` (fetched or cached)."""
        namespace = self.get_option("namespace")
        parent = group_name(self.get_option("group")) if self.get_option("group") else None
        strict = self.get_option("strict")
        owner, groups = {}, {}  # host -> NodeSet, group -> NodeSet
        if parent:
            self.inventory.add_group(parent)
        for nodeset in results:
            if nodeset["group"] in groups:
                raise AnsibleParserError("%s %s and %s %s (namespace %s) are both the group %s" % (
                    KIND, groups[nodeset["group"]], KIND, nodeset["name"], namespace, nodeset["group"]))
            groups[nodeset["group"]] = nodeset["name"]
            if nodeset.get("vars_from"):
                display.warning("%s %s in namespace %s uses ansibleVarsFrom (%s), which the tenrec.dataplane.nodeset "
                                "inventory does not read" % (KIND, nodeset["name"], namespace,
                                                             ", ".join(nodeset["vars_from"])))
            group = self.inventory.add_group(nodeset["group"])
            for key, value in nodeset["vars"].items():
                self.inventory.set_variable(group, key, value)
            if parent and parent != group:
                self.inventory.add_child(parent, group)
            for entry in nodeset["hosts"]:
                host = entry["name"]
                if host in owner:
                    raise AnsibleParserError("host %s is in %s %s and %s %s (namespace %s)" % (
                        host, KIND, owner[host], KIND, nodeset["name"], namespace))
                owner[host] = nodeset["name"]
                self.inventory.add_host(host, group=group)
                for key, value in entry["vars"].items():
                    self.inventory.set_variable(host, key, value)
                variables = dict(nodeset["vars"])
                variables.update(entry["vars"])
                self._set_composite_vars(self.get_option("compose"), variables, host, strict=strict)
                variables.update(self.inventory.get_host(host).get_vars())
                self._add_host_to_composed_groups(self.get_option("groups"), variables, host, strict=strict)
                self._add_host_to_keyed_groups(self.get_option("keyed_groups"), variables, host, strict=strict)
