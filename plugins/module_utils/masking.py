# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)
"""Mask secrets in configuration text before it is shown (drift reports, masked diffs).

``mask(text)`` replaces with ``MASK``: the value of every ``key = value`` / ``key: value`` line whose
key names a password, a secret, a ``transport_url``, a ``connection`` or a ``*_key``; the user and
password of ``scheme://user:password@`` URLs; and whole PEM private keys. Anything not a str comes back
unchanged.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

MASK = "********"
_OPTION = re.compile(r"(?im)^(\s*[\w.-]*(?:password|secret|transport_url|connection|_key)\b[\w.-]*\s*[=:]\s*)(\S.*)$")
_URL_CREDENTIALS = re.compile(r"(\w+://)[^\s:/@]+:[^\s@/]+@")
_PEM_KEY = re.compile(r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S)


def mask(text):
    """``text`` (str) with secret option values, URL credentials and PEM private keys replaced by ``MASK``."""
    if not isinstance(text, str):
        return text
    text = _PEM_KEY.sub("-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----" % MASK, text)
    text = _URL_CREDENTIALS.sub(r"\1%s:%s@" % (MASK, MASK), text)
    return _OPTION.sub(lambda m: m.group(1) + MASK, text)
