#!/usr/bin/env bash
# tofu-perf --plot FILE: a well-formed SVG with one bar per result and
# figure: msg/s and MB/s per throughput case, median and p99 per latency case.
#   perf_plot.sh TOFU_PERF PYTHON3
source "$(dirname "$0")/lib.sh"
perf=$1
python=$2
# tofu and raw x tcp, uds x throughput, latency: 4 throughput and 4 latency results
"$perf" --quiet --impl tofu,raw --transport tcp,uds --mode throughput,latency --count 300 --warmup 10 \
    --plot "$work/perf.svg" >"$work/stdout"
if command -v xmllint >/dev/null; then
    xmllint --noout "$work/perf.svg" || fail "xmllint: not well-formed"
fi
"$python" - "$work/perf.svg" <<'PY'
import collections, sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
svg = "{http://www.w3.org/2000/svg}"
assert root.tag == svg + "svg", root.tag
bars = collections.Counter(rect.get("data-panel") for rect in root.iter(svg + "rect") if rect.get("class") == "bar")
expected = {"msgs_per_s": 4, "mb_per_s": 4, "latency_median_us": 4, "latency_p99_us": 4}
assert bars == expected, f"bars per panel: {dict(bars)}, expected {expected}"
heights = [float(rect.get("height")) for rect in root.iter(svg + "rect") if rect.get("class") == "bar"]
assert all(h > 0 for h in heights), f"a bar without height: {heights}"
legend = [text.text for group in root.iter(svg + "g") if group.get("class") == "legend" for text in group.iter(svg + "text")]
assert legend == ["tofu-epoll", "raw"] or legend == ["tofu-poll", "raw"], legend
print("ok:", dict(bars))
PY
