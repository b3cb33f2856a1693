"""The Serve app under test: the built-in configurable one, and deployment of any app."""
