"""The load: its spec, the Locust process(es), the traffic mix and the load report."""
