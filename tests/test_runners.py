"""Beam flags checked as Beam reads them (laf.ingest.runners), before any pipeline runs."""
import pytest

from laf.errors import UserError
from laf.ingest import runners


@pytest.mark.parametrize("args, names", [
    (["--runer=DataflowRunner"], r"\['--runer=DataflowRunner'\], so it would drop it .*did you mean --runner for --runer\?"),
    (["--runer", "DataflowRunner"], r"\['--runer', 'DataflowRunner'\], so it would drop them .*--runner for --runer"),
    (["--runner=DirectRunner", "--directnumworkers=2"], r".*did you mean --direct_num_workers for --directnumworkers\?"),
    (["--runner=DirectRunner", "stray"], r"\['stray'\], so it would drop it with a log line and run without$"),
])
def test_a_flag_beam_would_drop_is_refused_with_the_closest_known_name(args, names):
    """Beam drops what no options class declares with a log line: the run went on without it (a misspelt
    --runner ran everything on the DirectRunner)."""
    with pytest.raises(UserError, match=r"^Beam options: Beam knows no flag for " + names):
        runners.check_flag_names(args)
    with pytest.raises(UserError, match="Beam knows no flag"):
        runners.make_pipeline(args)


def test_every_flag_some_beam_options_class_declares_passes():
    """Dataflow's, the DirectRunner's, Dask's (declared where its runner is), TFX's labels, a value given as
    the next item, a unique prefix and a boolean flag: all read by Beam, none refused."""
    runners.check_flag_names(["--runner=DirectRunner", "--direct_num_workers", "2", "--project=p", "--region=r",
                              "--temp_location=gs://b/t", "--setup_file=/s/setup.py", "--labels", "a=b",
                              "--dask_client_address=tcp://10.0.0.5:8786", "--runn=DirectRunner",
                              "--no_use_public_ips", "--experiments=x", "--sdk_container_image=i"])
    runners.check_flag_names([])


@pytest.mark.parametrize("runner", ["DataflowRunner", "FlinkRunner", "SparkRunner", "PortableRunner"])
def test_flags_python_does_not_declare_go_on_to_the_runners_that_take_them(runner):
    """Beam sends undeclared flags on to these runners' services (their Java options): not refused."""
    runners.check_flag_names([f"--runner={runner}", "--checkpointingInterval=60000", "--streaming_engine_x"])
    for direct in ("DirectRunner", "BundleBasedDirectRunner", "DaskRunner"):  # in this process: dropped
        with pytest.raises(UserError, match="Beam knows no flag"):
            runners.check_flag_names([f"--runner={direct}", "--checkpointingInterval=60000"])
