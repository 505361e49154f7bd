import ctypes
import subprocess
import sys

import pytest

# Allocate 20 MiB with malloc and print how many bytes glibc serves by mmap (mallinfo2's hblkhd) before and after.
SCRIPT = """
import ctypes, sys
if sys.argv[1] == "tuned":
    from cae_sim.memory import tune_malloc
    assert tune_malloc()
class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Mallinfo2
libc.malloc.restype = ctypes.c_void_p
before = libc.mallinfo2().hblkhd
block = libc.malloc(20 << 20)
print(libc.mallinfo2().hblkhd - before)
"""


def mapped_bytes_of_a_20_mib_block(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="needs glibc >= 2.33 (mallinfo2)")
def test_tuned_malloc_serves_large_buffers_from_the_heap_instead_of_fresh_mappings():
    assert mapped_bytes_of_a_20_mib_block("plain") >= 20 << 20  # glibc maps (and later unmaps) a block this size
    assert mapped_bytes_of_a_20_mib_block("tuned") == 0  # the tuned heap keeps it, for reuse by the next batch
