"""toolmesh's Grafana dashboards, built as code with grafana-foundation-sdk.

`make dashboards` (`python -m grafana.build`) writes `grafana/dashboards/*.json`, which
`grafana/provisioning/` points Grafana at. Edit the builders here, never the JSON: a test
fails when the committed JSON differs from what they build.
"""
