"""Every role entry point has an argument spec that matches defaults/main.yml."""

import pytest
import yaml

from unit_support import ROOT

ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir())


def _load(path):
    return yaml.safe_load(path.read_text()) if path.exists() else None


@pytest.mark.parametrize("role", ROLES)
def test_spec_matches_defaults(role):
    base = ROOT / "roles" / role
    specs = _load(base / "meta/argument_specs.yml")["argument_specs"]
    defaults = _load(base / "defaults/main.yml") or {}
    assert "main" in specs
    for entry, spec in specs.items():
        assert (base / "tasks" / ("%s.yml" % entry)).exists(), "%s: no tasks file for entry point %s" % (role, entry)
        options = spec.get("options") or {}
        optional = {k: v for k, v in options.items() if not v.get("required")}
        assert set(optional) == set(defaults), "%s/%s: spec options %s vs defaults %s" % (
            role, entry, sorted(optional), sorted(defaults))
        for name, value in defaults.items():
            assert options[name].get("default") == value, "%s: default of %s differs" % (role, name)
            assert name.startswith(role + "_"), "%s: variable %s lacks the role prefix" % (role, name)


@pytest.mark.parametrize("role", ROLES)
def test_os_vars_cover_both_families(role):
    base = ROOT / "roles" / role / "vars"
    families = [f for f in ("Debian", "RedHat") if (base / ("%s.yml" % f)).exists()]
    if families:
        assert families == ["Debian", "RedHat"]
        debian, redhat = (_load(base / ("%s.yml" % f)) for f in families)
        assert set(debian) == set(redhat), "%s: Debian and RedHat vars define different names" % role
