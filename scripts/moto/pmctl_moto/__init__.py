"""pmctl's patches to moto, applied by scripts/moto-server (see scripts/moto/README.md).

Each submodule patches one gap of moto's own models or responses, or adds one piece of
test-only control (the /moto-api/pmctl/* admin endpoints). Everything else stays moto's.
"""
