"""Targeting: which dialogue a visitor sees, on which page, and when.

* ``pages``: include and exclude lists of page patterns.
* ``rules``: a dialogue's ``targeting:`` checked (with lines) and compiled.
* ``audience``: attribute values and bounded attribute lookups.
* ``visit``: the visit's built-in attributes (visit count, device, country, UTM parameters).
* ``selection``: priority, once per visitor, engaged dialogues continue.
* ``plugin``: the ``targeting:`` settings and the visit attributes, registered through hooks.
"""
