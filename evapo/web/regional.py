"""The regional ET0 map page (``/regional``): points coloured by ET0, legend, date switch.

A self-contained page (no CDN, no tiles: an SVG in an equirectangular projection) that reads
``/api/v1/regions`` and ``/api/v1/regions/{name}/map?date=...``; it shows the last completed
run, when it was computed, and a warning when a newer run failed. The dashboard links to it.
"""

from __future__ import annotations

import json
from functools import lru_cache

#: ET0 classes [mm/day]: upper bounds and colours (light yellow to dark red).
ETO_CLASSES: tuple[tuple[float, str], ...] = (
    (2.0, "#ffffb2"),
    (3.0, "#fed976"),
    (4.0, "#feb24c"),
    (5.0, "#fd8d3c"),
    (6.0, "#f03b20"),
    (float("inf"), "#bd0026"),
)
NO_DATA_COLOUR = "#9e9e9e"


def eto_colour(eto_mm: float | None) -> str:
    """Fill colour of a point with this ET0 [mm/day] (grey when unknown)."""
    if eto_mm is None:
        return NO_DATA_COLOUR
    return next(colour for bound, colour in ETO_CLASSES if eto_mm < bound)


def legend_labels() -> list[str]:
    """Legend label of each ET0 class, in order."""
    labels, lower = [], 0.0
    for bound, _ in ETO_CLASSES:
        labels.append(f"≥ {lower:g}" if bound == float("inf") else f"{lower:g}–{bound:g}")
        lower = bound
    return labels


_CSS = """
body{font-family:system-ui,sans-serif;margin:0;background:#f5f6f7;color:#222}
header{background:#1f4e3d;color:#fff;padding:.6rem 1rem;display:flex;gap:1rem;align-items:center}
header a{color:#d8f3e4}
main{padding:1rem;display:flex;gap:1rem;flex-wrap:wrap}
#map-card{background:#fff;border-radius:6px;padding:.5rem;flex:1 1 640px}
#side{flex:0 1 260px;background:#fff;border-radius:6px;padding:.75rem}
#regional-map{width:100%;height:auto;background:#e8ecef;border-radius:4px}
#regional-map circle{stroke:#333;stroke-width:.6}
.date-switch button{margin:.15rem;padding:.3rem .6rem;border:1px solid #1f4e3d;background:#fff;
border-radius:4px;cursor:pointer}
.date-switch button.active{background:#1f4e3d;color:#fff}
#legend div{display:flex;align-items:center;gap:.4rem;font-size:.9rem}
#legend span.swatch{display:inline-block;width:1rem;height:1rem;border:1px solid #555}
#stale{background:#fff3cd;border:1px solid #e0c36b;padding:.4rem;border-radius:4px;display:none}
#computed-at{font-size:.9rem;color:#444}
"""

_JS = """
const CLASSES = __CLASSES__;
const NO_DATA = "__NODATA__";
const LABELS = __LABELS__;
const W = 800, H = 560, PAD = 30;
let region = null, day = null;
function colour(v){ if(v===null||v===undefined) return NO_DATA;
  for(const [b,c] of CLASSES){ if(b===null||v<b) return c; } return NO_DATA; }
function legend(){ const el=document.getElementById("legend"); el.innerHTML="<b>ET0 (mm/day)</b>";
  CLASSES.forEach(([b,c],i)=>{ const d=document.createElement("div");
    d.innerHTML=`<span class="swatch" style="background:${c}"></span>${LABELS[i]}`;
    d.className="legend-item"; el.appendChild(d); });
  const d=document.createElement("div");
  d.innerHTML=`<span class="swatch" style="background:${NO_DATA}"></span>no data`;
  d.className="legend-item"; el.appendChild(d); }
async function getJSON(url){ const r=await fetch(url); if(!r.ok) throw new Error(r.status);
  return r.json(); }
function draw(m){
  const svg=document.getElementById("regional-map"); svg.innerHTML="";
  document.getElementById("computed-at").textContent = m.message;
  const stale=document.getElementById("stale");
  stale.style.display = m.stale ? "block" : "none"; stale.textContent = m.stale ? m.message : "";
  const sw=document.getElementById("date-switch"); sw.innerHTML="";
  m.dates.forEach(d=>{ const b=document.createElement("button"); b.textContent=d;
    b.dataset.date=d; if(d===m.date) b.className="active";
    b.onclick=()=>{ day=d; load(); }; sw.appendChild(b); });
  if(!m.points.length){ return; }
  const lats=m.points.map(p=>p.lat), lons=m.points.map(p=>p.lon);
  let a0=Math.min(...lats), a1=Math.max(...lats), o0=Math.min(...lons), o1=Math.max(...lons);
  const span=Math.max(a1-a0,o1-o0,0.5); const ca=(a0+a1)/2, co=(o0+o1)/2;
  a0=ca-span/2; a1=ca+span/2; o0=co-span/2; o1=co+span/2;
  const k=Math.cos(ca*Math.PI/180)||1;
  const sx=(W-2*PAD)/((o1-o0)*k), sy=(H-2*PAD)/(a1-a0), s=Math.min(sx,sy);
  const r=Math.max(4, Math.min(14, 240/Math.sqrt(m.points.length)));
  for(const p of m.points){
    const c=document.createElementNS("http://www.w3.org/2000/svg","circle");
    c.setAttribute("cx", (W/2 + (p.lon-co)*k*s).toFixed(1));
    c.setAttribute("cy", (H/2 - (p.lat-ca)*s).toFixed(1));
    c.setAttribute("r", r.toFixed(1)); c.setAttribute("fill", colour(p.eto_mm));
    c.setAttribute("class","point"); c.dataset.eto = p.eto_mm===null ? "" : p.eto_mm;
    const t=document.createElementNS("http://www.w3.org/2000/svg","title");
    const eto = p.eto_mm===null ? "no data" : p.eto_mm.toFixed(2)+" mm";
    const pr = p.precip_mm===null ? "-" : p.precip_mm.toFixed(1)+" mm";
    t.textContent=`${p.name}: ET0 ${eto}, precipitation ${pr}`; c.appendChild(t);
    svg.appendChild(c); }
}
async function load(){
  if(!region) return;
  const q = day ? `?date=${day}` : "";
  try { draw(await getJSON(`/api/v1/regions/${encodeURIComponent(region)}/map${q}`)); }
  catch(e){ document.getElementById("computed-at").textContent="map unavailable ("+e+")"; }
}
async function init(){
  legend();
  const sel=document.getElementById("region-select");
  const list=(await getJSON("/api/v1/regions")).regions;
  for(const r of list){ const o=document.createElement("option"); o.value=r.name;
    o.textContent=`${r.name} (${r.n_points} points)`; sel.appendChild(o); }
  const wanted=new URLSearchParams(location.search).get("region");
  region = wanted || (list.length ? list[0].name : null); if(region) sel.value=region;
  sel.onchange=()=>{ region=sel.value; day=null; load(); };
  if(!region){ document.getElementById("computed-at").textContent="no region defined yet"; }
  await load();
  setInterval(load, 60000);
}
init();
"""


@lru_cache(maxsize=1)
def page_html() -> str:
    """The whole page (HTML, CSS and script inline)."""
    classes = [[None if b == float("inf") else b, c] for b, c in ETO_CLASSES]
    script = (
        _JS.replace("__CLASSES__", json.dumps(classes))
        .replace("__NODATA__", NO_DATA_COLOUR)
        .replace("__LABELS__", json.dumps(legend_labels(), ensure_ascii=False))
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Evapo - regional ET0 map</title><style>{_CSS}</style></head>
<body>
<header><strong>Evapo</strong><span>Regional ET0 map</span><a href="/">point dashboard</a></header>
<main>
<section id="map-card">
<svg id="regional-map" viewBox="0 0 800 560" role="img" aria-label="ET0 map"></svg>
</section>
<aside id="side">
<label for="region-select">Region</label><br>
<select id="region-select"></select>
<p id="computed-at">loading...</p>
<div id="stale" role="alert"></div>
<div><b>Day</b><div id="date-switch" class="date-switch"></div></div>
<div id="legend"></div>
</aside>
</main>
<script>{script}</script>
</body></html>"""
