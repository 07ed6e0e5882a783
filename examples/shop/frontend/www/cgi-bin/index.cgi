#!/bin/sh
# GET /: the shop's page (httpd runs /cgi-bin/index.cgi for a directory without index.html): the products and a
# new visit from the backend, and the seeding job's output. BACKEND_HOST and PRODUCTS_SEEDED: see /start.sh.
backend="http://$BACKEND_HOST:8080/cgi-bin"
html() { sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g; s/"/\&quot;/g'; }
# busybox wget has no usable timeout option here: coreutils' timeout bounds each call
if list=$(timeout 5 busybox wget -qO- "$backend/products"); then
  products=$(printf '%s\n' "$list" | sed '/^$/d' | html | tr '\n' ',' | sed 's/,$//; s/,/, /g')
else
  products="(backend unavailable)"
fi
visits=$(timeout 5 busybox wget -qO- "$backend/visit" | tr -cd '0-9')
seeded=$(printf '%s' "${PRODUCTS_SEEDED:-}" | html)
printf 'Content-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\n\r\n'
cat <<HTML
<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title></head>
<body>
<h1>Shop: ${products:-(none)} — visits: ${visits:-?} — seeded by job: ${seeded:-?}</h1>
<p>This page comes from the frontend, which asked the backend ($(printf '%s' "$BACKEND_HOST" | html):8080) for the
products and to record this visit in PostgreSQL; the seeding job reported its product count as an output.</p>
</body></html>
HTML
