"""Runboard's JSON API for pipelines (SPEC §7), in the public shape of the Qualytics operations
API: the same rules, actions and launch code as the pages, behind bearer tokens."""
