"""Hypothesis strategies for mpcsim users: sequences, task instances, routings, models.

Each submodule holds one family; everything is re-exported here.
"""
