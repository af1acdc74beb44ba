"""thermcli — a command-line toolchain for transfer learning on thermal (LWIR) images.

The library behind the commands lives in sub-packages: ``thermcli.io`` (the artifact
contract), ``thermcli.ops`` (pure NumPy/OpenCV functions), ``thermcli.stages`` (one module per
pipeline step), ``thermcli.models`` (registry and checkpoints) and ``thermcli.metrics``.
"""

__version__ = "0.1.0"
