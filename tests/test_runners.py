"""Beam flags checked as Beam reads them (laf.ingest.runners), before any pipeline runs."""
import re

import pytest

from laf.errors import UserError
from laf.ingest import runners


@pytest.mark.parametrize("args, message", [
    (["--runer=DataflowRunner"], "--runer is no flag Beam declares (did you mean --runner?): Beam would drop it"),
    (["--runer", "DataflowRunner"], "--runer is no flag Beam declares (did you mean --runner?)"),
    (["--runner=DirectRunner", "--directnumworkers=2"],
     "--directnumworkers is no flag Beam declares (did you mean --direct_num_workers?)"),
    (["--run=DataflowRunner"], "ambiguous option: --run=DataflowRunner could match --runner, --runtime_type_check"),
    (["--runner=DataflowRunner", "--run=FlinkRunner"], "ambiguous option: --run=FlinkRunner"),  # on any runner
    (["--direct_num_workers=two"], "argument --direct_num_workers: invalid int value: 'two'"),
])
def test_a_flag_beam_would_drop_or_stop_on_is_refused_in_one_line(args, message):
    """Beam drops a misspelt flag or an ambiguous abbreviation with a log line (a misspelt --runner ran
    everything on the DirectRunner), and stops on a bad value with its usage listing of every option."""
    with pytest.raises(UserError, match="^Beam options: " + re.escape(message)):
        runners.check_flag_names(args)
    with pytest.raises(UserError, match="^Beam options: "):
        runners.make_pipeline(args)


def test_every_flag_beam_or_tfx_reads_passes():
    """Dataflow's, the DirectRunner's, Dask's (declared where its runner is), TFX's labels and its own absl
    flags, a value given as the next item, a unique prefix and a boolean flag: none refused."""
    runners.check_flag_names(["--runner=DirectRunner", "--direct_num_workers", "2", "--project=p", "--region=r",
                              "--temp_location=gs://b/t", "--setup_file=/s/setup.py", "--labels", "a=b",
                              "--dask_client_address=tcp://10.0.0.5:8786", "--runn=DirectRunner",
                              "--no_use_public_ips", "--experiments=x", "--sdk_container_image=i",
                              "--tfxio_use_byte_size_batching"])
    runners.check_flag_names([])


@pytest.mark.parametrize("runner", ["DataflowRunner", "FlinkRunner", "SparkRunner", "PortableRunner"])
def test_flags_python_does_not_declare_go_on_to_the_runners_that_take_them(runner):
    """Beam sends undeclared flags on to these runners' services (their Java options), near misses too."""
    runners.check_flag_names([f"--runner={runner}", "--checkpointingInterval=60000", "--projetc=p"])
    for direct in ("DirectRunner", "BundleBasedDirectRunner", "DaskRunner"):  # in this process: dropped
        with pytest.raises(UserError, match="did you mean --project"):
            runners.check_flag_names([f"--runner={direct}", "--projetc=p"])
