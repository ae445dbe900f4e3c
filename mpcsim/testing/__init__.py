"""Hypothesis strategies for mpcsim users: sequences, task instances, routings, models.

Each submodule holds one family; everything is re-exported here.
"""
from .transformers import *  # noqa: F401,F403
from .comm import *  # noqa: F401,F403
from .sequences import *  # noqa: F401,F403
from .programs import *  # noqa: F401,F403
