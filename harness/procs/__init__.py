"""Process ownership: the ledger of processes a run started, the reaper and the run registry."""
