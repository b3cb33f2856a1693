"""How an injection fails: chaos.api, chaos.guard and every fault raise these."""


class FaultError(Exception):
    """An injection that could not be carried out; recorded as outcome `failed`."""


class NoTarget(FaultError):
    """Nothing matching the fault's targets exists right now; recorded as `no_target`."""
