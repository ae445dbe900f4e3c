"""Compilers between MPC programs, token programs, transformer weights and communication protocols.

torch is imported only by the modules that need it (never at ``import compilers``).
"""
