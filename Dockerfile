# Container image for Kubeflow Pipelines v2 / Vertex AI runs of the LAF pipeline.
# The TFX base image of the pinned version carries TF, TFX, Beam and TFMA at matching versions;
# the lock file pins the rest exactly as in local runs.
FROM gcr.io/tfx-oss-public/tfx:1.16.0

WORKDIR /pipeline
COPY requirements.lock setup.py README.md ./
RUN python -m pip install --no-cache-dir "uv==0.13.9" \
 && uv pip install --system --no-cache -r requirements.lock
COPY laf/ laf/
COPY pipeline/ pipeline/
COPY components/ components/
COPY trainer/ trainer/
COPY schemas/ schemas/
RUN uv pip install --system --no-deps --no-cache . && laf --help
ENV PYTHONPATH=/pipeline
