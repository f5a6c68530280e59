"""The load generator: shopper journeys against the storefront at a given rate (open model).

    from fleet.loadgen import run_load
    report = run_load("http://127.0.0.1:8080", rate=5, duration=30)
    print(report.to_table())
"""

from fleet.loadgen.journey import JourneyMix
from fleet.loadgen.report import Report
from fleet.loadgen.runner import LoadError, arun_load, run_load

__all__ = ["JourneyMix", "LoadError", "Report", "arun_load", "run_load"]
