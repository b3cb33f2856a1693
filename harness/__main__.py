from harness.cli import entry

if __name__ == "__main__":  # importable on its own (tools, tests); `python -m harness` runs it
    entry()
