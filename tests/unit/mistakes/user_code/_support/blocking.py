"""Blocks on import: validate must give up on it, not hang."""
import time

time.sleep(600)
