#!/usr/bin/env python3
"""docs.py SPEC_YAML REDOC_STANDALONE_JS OUT_HTML OUT_CSP

Build the API reference served at GET /docs: one self-contained page
with Redoc's standalone bundle (npm package redoc, pinned in the
Makefile) and the contract inlined, rendered in the browser by
Redoc.init. Nothing is fetched at run time. Also writes, one line, the
Content-Security-Policy the page needs: its two inline scripts by
SHA-256 hash, inline styles (Redoc's styled-components inject them),
data: images, its search worker from a blob: URL, and nothing else
(no network, no frames, no forms).
"""
import base64
import hashlib
import json
import sys

import yaml

spec_path, bundle_path, out_html, out_csp = sys.argv[1:5]
spec = yaml.safe_load(open(spec_path, encoding="utf-8"))
bundle = open(bundle_path, encoding="utf-8").read()
if "</script" in bundle.lower():
    sys.exit("docs.py: the Redoc bundle contains </script; cannot inline it")
# The sidebar's "API docs by Redocly" logo is the one thing Redoc loads
# from elsewhere: a blank inline image instead (the CSP allows no other).
LOGO = '"https://cdn.redoc.ly/redoc/logo-mini.svg"'
if bundle.count(LOGO) != 1:
    sys.exit("docs.py: Redoc's logo URL moved; check the bundle for network loads")
bundle = bundle.replace(LOGO, '"data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22/%3E"')

# JSON is JavaScript; "</" and the two line separators are escaped so the
# spec can neither end the script element nor break the literal.
literal = (json.dumps(spec, ensure_ascii=False, separators=(",", ":"))
           .replace("</", "<\\/").replace("\u2028", "\\u2028")
           .replace("\u2029", "\\u2029"))
init = ("Redoc.init(%s, {hideDownloadButton: true, expandResponses: '200,201',"
        " jsonSampleExpandLevel: 3}, document.getElementById('redoc'));"
        % literal)
scripts = [bundle, init]
title = "%s API reference" % spec["info"]["title"]
html = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%s</title>
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<noscript>This reference needs JavaScript; the contract itself is at
<a href="/openapi.yaml">/openapi.yaml</a>.</noscript>
<div id="redoc"></div>
%s
</body>
</html>
""" % (title, "\n".join("<script>%s</script>" % s for s in scripts))

hashes = " ".join(
    "'sha256-%s'" % base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode()
    for s in scripts)
csp = ("default-src 'none'; script-src %s; style-src 'unsafe-inline'; "
       "img-src data:; font-src data:; worker-src blob:; connect-src 'none'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'" % hashes)
with open(out_html, "w", encoding="utf-8") as f:
    f.write(html)
with open(out_csp, "w", encoding="ascii") as f:
    f.write(csp + "\n")
