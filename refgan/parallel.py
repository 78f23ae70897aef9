"""Where parallel jobs run: the joblib context that ``refgan sweep``'s trials and
``refgan study``'s GAN trainings and classifier fits share (loky processes by default;
dask or ray clusters when named). Registering dask's or ray's joblib backend is the
only setup either needs, so that happens here and nowhere else.
"""
from __future__ import annotations

from refgan.errors import UserError


def parallel_config(joblib_backend: str, n_jobs: int, scheduler: str | None = None):
    """The joblib context the trials run in; for dask, an existing or new Client."""
    import joblib

    if joblib_backend == "dask":
        try:
            from dask.distributed import Client, get_client
        except ModuleNotFoundError:
            raise UserError("--joblib-backend dask needs dask.distributed: "
                            "pip install 'dask[distributed]'") from None
        if scheduler:
            Client(scheduler)
        else:
            try:
                get_client()
            except ValueError:
                Client()  # a local cluster: still dask's scheduler, not ours
    elif joblib_backend == "ray":
        try:
            from ray.util.joblib import register_ray
        except ModuleNotFoundError:
            raise UserError("--joblib-backend ray needs ray: pip install 'ray'") from None
        register_ray()
    return joblib.parallel_config(backend=joblib_backend, n_jobs=n_jobs)
