"""Clusters a run stands on: its own local one, an existing address, a suite's shared pool, an autoscaling one."""
