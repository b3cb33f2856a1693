"""Unit tests write timelines in strict mode: a record of an undeclared kind or with an
undeclared field raises (harness.measure.records)."""

import os

from harness.measure.records import STRICT_ENV

os.environ[STRICT_ENV] = "1"
