"""Algorithms for mpcsim: tasks, their plain-Python reference definitions, input generators and
MPC / communication protocols that solve them."""
