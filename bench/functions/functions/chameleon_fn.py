# SPDX-License-Identifier: GPL-2.0
"""chameleon: render a large HTML table with a Chameleon page template
(FunctionBench chameleon). Init compiles the template; a request renders a
200 x 10 table."""
import hashlib

from chameleon import PageTemplate

TEMPLATE = """<table xmlns:tal="http://xml.zope.org/namespaces/tal">
<tr tal:repeat="row rows"><td tal:repeat="c row" tal:content="c"/></tr>
</table>"""
ROWS, COLS = 200, 10


def init():
    tmpl = PageTemplate(TEMPLATE)
    tmpl(rows=[[0]])       # compile now, as a warm process would have
    return tmpl


def handler(tmpl, n):
    rows = [[(n + r * COLS + c) % 997 for c in range(COLS)] for r in range(ROWS)]
    html = tmpl(rows=rows)
    return "%s %d" % (hashlib.sha256(html.encode()).hexdigest()[:16], len(html))
