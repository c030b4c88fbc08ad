"""Dask distributed clusters for ``carms sweep --dask`` (optional extra ``carms-cli[dask]``)."""

import contextlib

from carms_cli.core.errors import InputError

#: Seconds to wait for a scheduler before giving up (never hang on a wrong address).
CONNECT_TIMEOUT = 10


@contextlib.contextmanager
def dask_client(address: str):
    """Yield a ``distributed.Client`` for ``address``.

    ``local`` / ``local:N`` starts a LocalCluster of N (default 2) single-threaded worker
    processes on loopback, anything else is a scheduler address (``tcp://host:8786``).
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--dask needs Dask distributed: pip install 'carms-cli[dask]'") from None
    cluster = None
    if address == "local" or address.startswith("local:"):
        try:
            workers = int(address.split(":", 1)[1]) if ":" in address else 2
        except ValueError:
            raise InputError(f"--dask local:N expects a number of workers, got '{address}'") from None
        if workers < 1:
            raise InputError(f"--dask local:N needs at least one worker, got {workers}")
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        )
        target = cluster
    else:
        target = address
    try:
        client = Client(target, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise InputError(f"cannot connect to the Dask scheduler at '{address}': {exc}") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
