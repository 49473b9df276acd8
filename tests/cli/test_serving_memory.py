"""`serve` hands the C heap's free pages back to the system once it has started (cli.serving.release_free_memory)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Freed heap memory that glibc keeps unless trimmed: blocks bigger than pymalloc's (512 bytes) come from
# malloc, and one block allocated after them keeps the heap from shrinking at its top when they are freed.
PROBE = """
import os
from cli.serving import release_free_memory

def rss():
    with open('/proc/self/statm') as statm:
        return int(statm.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')

blocks = [bytes(2000) for _ in range(20000)]
kept = bytes(2000)
del blocks
before = rss()
released = release_free_memory()
print(released, before - rss())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; malloc_trim is glibc's")
def test_free_heap_pages_go_back_to_the_system() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    released, freed = done.stdout.split()
    assert released == "True"
    assert int(freed) > 20 * 1024 * 1024  # of the 40 MB freed: without the trim, resident memory stays
