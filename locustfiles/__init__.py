"""Locust users and load shapes. Runs in the load process only: never import ray here."""
