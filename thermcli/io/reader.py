"""The part every dataset reader (HDF5, PNG folder) shares: ``with`` support and batch reading
on top of the reader's own ``read(start, stop)``."""

from __future__ import annotations

from typing import Any, Iterator

from thermcli import interrupt


class DatasetReader:
    """Base of the dataset readers: a context manager that closes the reader, and batches
    (or everything) read through the subclass's ``read``."""

    n: int

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Release what the reader holds (nothing by default)."""

    def read(self, start: int = 0, stop: int | None = None, *, check_values: bool = True):  # pragma: no cover
        raise NotImplementedError

    def iter_batches(self, batch_size: int = 256, start: int = 0, stop: int | None = None) -> Iterator[Any]:
        stop = self.n if stop is None else min(stop, self.n)
        for lo in range(start, stop, batch_size):
            interrupt.check()
            yield self.read(lo, min(lo + batch_size, stop))

    def read_all(self):
        return self.read(0, self.n)
