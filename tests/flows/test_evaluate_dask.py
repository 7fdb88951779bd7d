"""evaluate-candidate with its batches on a Dask cluster (two worker processes) through prefect-dask."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.flows.test_evaluate_candidate import SUITE, registry  # noqa: F401  (fixture)

pytest.importorskip("prefect_dask", reason="prefect-dask is not installed (pip install modelctl[dask])")


@pytest.mark.timeout(240)
def test_batches_run_on_two_dask_worker_processes_with_the_same_result(registry: str,  # noqa: F811
                                                                        prefect_harness: None,
                                                                        tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    from flows.evaluate_candidate import EvaluateCandidateParams, evaluate_candidate

    threads = evaluate_candidate(EvaluateCandidateParams(suite=str(SUITE), candidate="triage@2", registry=registry,
                                                         batch_size=10, use_cache=False))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        dask = evaluate_candidate(EvaluateCandidateParams(suite=str(SUITE), candidate="triage@2", registry=registry,
                                                          batch_size=10, use_cache=False, task_runner="dask",
                                                          dask_address=cluster.scheduler_address))
        ran_on = client.run(lambda dask_worker: len(dask_worker.state.log))  # noqa: ARG005
    assert dask["decision"] == threads["decision"] == "promote"
    quality = {k: v for k, v in threads["scores"].items() if "latency" not in k}
    assert quality and {k: dask["scores"][k] for k in quality} == quality  # latencies differ, answers do not
    assert len(ran_on) == 2 and all(n > 0 for n in ran_on.values()), ran_on  # both processes did work
