"""joblib's Dask backend, fixed so that a search whose worker dies fails instead of hanging.

In joblib 1.6 (``joblib/_dask.py``), ``DaskDistributedBackend._collect``
receives the tasks that Dask itself failed (``KilledWorker`` after a worker
died, lost data), sets the error on a future that ``Parallel`` never reads,
and does not call the batch's completion callback: ``Parallel`` waits for
that batch forever, and ``GridSearchCV.fit`` never returns. An exception
raised by a fit is not concerned (joblib returns it as the task's result).

:func:`register` puts a subclass that also hands the error to the callback
(``Parallel`` then raises it) in place of joblib's backend, under the same
name "dask", for the joblib versions known to have the bug. It replaces
joblib's lazy registration, so importing sk_imgcls imports neither Dask nor
distributed; ``parallel_backend("dask")`` does, as before.
"""

import asyncio

import joblib
from joblib import parallel

# joblib releases whose Dask backend drops the failures of Dask itself
# (checked on 1.6.0 and joblib's main branch of November 2026).
_LAST_AFFECTED = (1, 6)


def _affected(version):
    numbers = []
    for part in version.split(".")[:2]:
        digits = "".join(c for c in part if c.isdigit())
        numbers.append(int(digits or 0))
    return tuple(numbers) <= _LAST_AFFECTED


def _fixed_backend():
    from joblib._dask import DaskDistributedBackend

    class DaskBackend(DaskDistributedBackend):
        """joblib's ``DaskDistributedBackend`` that reports tasks Dask failed to ``Parallel``."""

        async def _collect(self):
            # joblib's loop, with callback(exc) on the error branch.
            while self._continue:
                async for future, result in self.waiting_futures:
                    cf_future = self._results.pop(future)
                    callback = self._callbacks.pop(future)
                    if future.status == "error":
                        _, exc, _ = result
                        cf_future.set_exception(exc)
                        callback(exc)
                    else:
                        cf_future.set_result(result)
                        callback(result)
                await asyncio.sleep(0.01)

    return DaskBackend


def _register_now():
    try:
        backend = _fixed_backend()
    except ImportError:
        # Dask is not installed: joblib's own registration says so.
        return _JOBLIB_REGISTER()
    parallel.register_parallel_backend("dask", backend)


_JOBLIB_REGISTER = parallel.EXTERNAL_BACKENDS.get("dask")


def register():
    """Use the fixed backend for ``parallel_backend("dask")`` where joblib needs it.

    Does nothing with a joblib release after the affected ones, or one that
    no longer registers its Dask backend lazily.
    """
    if _JOBLIB_REGISTER is None or not _affected(joblib.__version__):
        return
    if "dask" in parallel.BACKENDS:
        _register_now()
    else:
        parallel.EXTERNAL_BACKENDS["dask"] = _register_now
