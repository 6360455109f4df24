"""The OAR job script shipped with nxc for Grid'5000 jobs without ``-t deploy``."""

from __future__ import annotations

from pathlib import Path


def g5k_root_key_job_script() -> Path:
    """Path of ``g5k_root_key_job.sh``: authorises the user's key for root on the job's nodes
    (through ``sudo-g5k``), prints them, and keeps the job alive (``nxc helper g5k_script``)."""
    return Path(__file__).resolve().parent / "g5k_root_key_job.sh"
