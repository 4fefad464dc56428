"""Record your own training -- not only the canaries -- and compare it like a canary run.

`TorchRecorder` goes inside a PyTorch loop, `KerasCallback` into `model.fit`; both write a
`.reprodiag.zip` bundle that opens in the Compare tab and in `reprodiag compare`. The
frameworks are imported when a recorder is made, never by importing this package.
"""

from reprodiag.record.common import hash_arrays
from reprodiag.record.keras_callback import KerasCallback
from reprodiag.record.torch_recorder import TorchRecorder

__all__ = ["KerasCallback", "TorchRecorder", "hash_arrays"]
