"""`sqm report`: one self-contained HTML file of a period's service quality for managers.

`query` and `query_quality` read plain data (dicts and lists) from ClickHouse; `render` and
`figures` turn that data into HTML with plotly charts, and embed the data itself as JSON so every
number shown can be checked against the query it came from (docs/report.md).
"""
