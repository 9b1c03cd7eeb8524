// The fork-tree page of generals: one model fed by lines of events, drawn as
// SVG. Lines come from a node (`/tree`, then `/events`), from a testnet's
// merged feed (`/feed`, server-sent events), or from a finished run's log
// (`/log`, played back). A line is `{t, node, event, ...fields}`, as the
// simulator's log and the testnet's feed write them.
"use strict";

const NS = "http://www.w3.org/2000/svg";
const SOURCE = document.body.dataset.source || "node";
const BOX_W = 64, BOX_H = 34, COL = 92, LANE = 58, TOP = 26, LEFT = 12;
const MAX_EVENTS = 300;

function newModel() {
  return {
    consensus: "", nodes: [], keys: new Map(), blocks: new Map(),
    tips: new Map(), offenders: new Set(), events: [], timeline: [], t: 0,
  };
}
let M = newModel();

function block(hash) {
  let b = M.blocks.get(hash);
  if (!b) {
    b = { hash, parent: null, height: null, producer: null, byNode: null, inTurn: null,
      finalized: false, justified: false, withheld: false, released: false, invalid: false };
    M.blocks.set(hash, b);
  }
  return b;
}

function node(i) {
  while (M.nodes.length <= i) {
    M.nodes.push({ name: "n" + M.nodes.length, role: "honest", key: null, height: null,
      peers: null, state: "running", tip: null });
  }
  return M.nodes[i];
}

function nodeName(i) { return i == null ? "" : node(i).name; }
function short(h) { return h ? String(h).slice(0, 8) : ""; }

function event(line, cls, text) {
  M.events.push({ t: line.t || 0, cls, text });
  if (M.events.length > MAX_EVENTS) M.events.shift();
}

// Marks a block and its ancestors (finality covers them).
function markBack(hash, field) {
  let b = M.blocks.get(hash);
  while (b && !b[field]) {
    b[field] = true;
    b = b.parent ? M.blocks.get(b.parent) : null;
  }
}

function setTip(n, hash) { M.tips.set(n, hash); node(n).tip = hash; }

function apply(line) {
  let kind = String(line.event || "").replace(/^block_/, "");
  if (kind === "invalid_block") kind = "invalid";
  const n = line.node;
  if (typeof line.t === "number") M.t = Math.max(M.t, line.t);
  switch (kind) {
    case "info":
      M.consensus = line.consensus || M.consensus;
      (line.nodes || []).forEach((x, i) => {
        Object.assign(node(i), { name: x.name, role: x.role || "honest", key: x.key || null });
        if (x.key && !M.keys.has(x.key)) M.keys.set(x.key, i);
      });
      if (line.timeline) M.timeline = line.timeline.map(s => ({ at: s.at, what: s.what, done: false }));
      break;
    case "imported": {
      const b = block(line.hash);
      b.parent = line.parent || b.parent;
      b.height = line.height;
      if (line.producer) b.producer = line.producer;
      if (line.in_turn != null) b.inTurn = line.in_turn;
      // BFT imports only decided blocks; a tree's blocks say whether they are.
      if (M.consensus === "bft" && (n != null || line.main_chain === true)) b.finalized = true;
      // A node applies blocks in order: the last one applied is its tip.
      if (n != null) setTip(n, b.hash);
      break;
    }
    case "produced":
      if (n != null && line.hash) block(line.hash).byNode = n;
      break;
    case "reorg":
      if (n != null) setTip(n, line.to);
      event(line, "reorg", `${nodeName(n)} reorg of depth ${line.depth} to ${short(line.to)} at height ${line.height}`);
      break;
    case "finalized": markBack(line.hash, "finalized"); break;
    // A justified checkpoint is that block alone (its ancestors are not).
    case "justified": block(line.hash).justified = true; break;
    case "evidence":
      if (!M.offenders.has(line.offender)) {
        M.offenders.add(line.offender);
        const who = M.keys.has(line.offender) ? nodeName(M.keys.get(line.offender)) : short(line.offender);
        event(line, "evidence", `evidence: ${who} signed twice (seen by ${nodeName(n)})`);
      }
      break;
    case "invalid":
      block(line.hash).invalid = true;
      event(line, "invalid", `${nodeName(n)} refused ${short(line.hash)}: ${line.reason}`);
      break;
    case "withheld": {
      const b = block(line.hash);
      b.withheld = true; b.byNode = n;
      if (b.height == null) b.height = line.height;
      event(line, "withheld", `${nodeName(n)} withholds its block at height ${line.height}`);
      break;
    }
    case "released":
      block(line.hash).released = true;
      event(line, "released", `${nodeName(n)} releases its block at height ${line.height}`);
      break;
    case "status": {
      const x = node(n);
      for (const f of ["height", "peers", "state", "finality"]) if (line[f] != null) x[f] = line[f];
      x.fromTip = false;
      // A status read before the newest import does not move the tip back.
      const now = M.blocks.get(M.tips.get(n)), said = M.blocks.get(line.tip);
      if (said && said.height != null && !(now && now.height != null && now.height > said.height)) setTip(n, line.tip);
      break;
    }
    case "step": {
      const s = M.timeline.find(x => !x.done && x.what === line.what);
      if (s) s.done = true;
      else M.timeline.push({ at: line.at || `${((line.t || 0) / 1000).toFixed(1)} s`, what: line.what, done: true });
      event(line, "step", line.what);
      break;
    }
    case "network": case "attack":
      event(line, "step", line.change || line.what);
      break;
    default: break;
  }
}

// ---- drawing ----

function el(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

function isByzantine(b) {
  const i = b.byNode != null ? b.byNode : (b.producer != null && M.keys.has(b.producer) ? M.keys.get(b.producer) : null);
  const byzNode = i != null && node(i).role && node(i).role !== "honest";
  return byzNode || (b.producer != null && M.offenders.has(b.producer));
}

function producerName(b) {
  if (b.height === 0) return "genesis";
  if (b.producer != null && M.keys.has(b.producer)) return nodeName(M.keys.get(b.producer));
  if (b.byNode != null) return nodeName(b.byNode);
  return short(b.producer);
}

function layout() {
  const drawn = [...M.blocks.values()].filter(b => b.height != null && b.parent != null || b.height === 0);
  const has = new Set(drawn.map(b => b.hash));
  const kids = new Map();
  for (const b of drawn) {
    if (has.has(b.parent)) {
      if (!kids.has(b.parent)) kids.set(b.parent, []);
      kids.get(b.parent).push(b);
    }
  }
  // Active: on some node's chain. Branches: the tips no other tip builds on.
  const tips = new Map();
  for (const [n, h] of M.tips) if (has.has(h)) { if (!tips.has(h)) tips.set(h, []); tips.get(h).push(n); }
  const active = new Set(), below = new Set();
  for (const h of tips.keys()) {
    let b = M.blocks.get(h), first = true;
    while (b && has.has(b.hash)) {
      if (!first) below.add(b.hash);
      if (active.has(b.hash) && !first) break;
      active.add(b.hash); first = false;
      b = M.blocks.get(b.parent);
    }
  }
  const activeLeaves = [...tips.keys()].filter(h => !below.has(h));
  // Subtree weights: node tips below, then the deepest height.
  const order = drawn.slice().sort((a, b) => b.height - a.height);
  const weight = new Map(), deep = new Map();
  for (const b of order) {
    const ch = kids.get(b.hash) || [];
    weight.set(b.hash, (tips.get(b.hash) || []).length + ch.reduce((s, c) => s + weight.get(c.hash), 0));
    deep.set(b.hash, Math.max(b.height, ...ch.map(c => deep.get(c.hash))));
  }
  for (const ch of kids.values()) {
    ch.sort((a, b) => (weight.get(b.hash) - weight.get(a.hash)) || (deep.get(b.hash) - deep.get(a.hash)) || (a.hash < b.hash ? -1 : 1));
  }
  const staleLeaves = drawn.filter(b => !(kids.get(b.hash) || []).length && !active.has(b.hash));
  let newestFinal = null;
  for (const b of drawn) if (b.finalized && M.consensus !== "bft" && (!newestFinal || b.height > newestFinal.height)) newestFinal = b;
  const keep = b => {
    const ch = kids.get(b.hash) || [];
    const parentKids = kids.get(b.parent) || [];
    if (!has.has(b.parent) || ch.length !== 1 || parentKids.length > 1) return true;
    if (tips.has(b.hash) || tips.has(ch[0].hash)) return true;
    return b.invalid || b.withheld || b.released || b.inTurn === false || isByzantine(b)
      || b === newestFinal || (b.justified && !b.finalized);
  };
  // Items along branches: blocks kept, runs of others folded.
  const items = [], branches = [];
  const roots = drawn.filter(b => !has.has(b.parent)).sort((a, b) => a.height - b.height);
  const stack = roots.map(r => ({ b: r, from: null })).reverse();
  while (stack.length) {
    const { b: start, from } = stack.pop();
    const branch = { items: [], active: active.has(start.hash) };
    branches.push(branch);
    let prev = from, b = start;
    while (b) {
      let item;
      const run = [b];
      if (!keep(b)) {
        // Not kept: exactly one child. Fold the run up to the next kept block.
        let c = kids.get(b.hash)[0];
        while (!keep(c)) { run.push(c); c = kids.get(c.hash)[0]; }
      }
      if (run.length < 2) {
        item = { kind: "block", b, height: b.height, prev, branch };
      } else {
        item = { kind: "fold", run, height: run[0].height, prev, b: run[run.length - 1], branch };
        b = run[run.length - 1];
      }
      items.push(item);
      branch.items.push(item);
      prev = item;
      const ch = kids.get(b.hash) || [];
      for (let i = ch.length - 1; i >= 1; i--) stack.push({ b: ch[i], from: item });
      b = ch[0] || null;
    }
  }
  const cols = [...new Set(items.map(i => i.height))].sort((a, b) => a - b);
  const colOf = new Map(cols.map((h, i) => [h, i]));
  for (const it of items) it.col = colOf.get(it.height);
  // Lanes: the first branch on top; then active branches before orphaned
  // ones, each in the highest lane free from just before its start.
  const laneEnd = [];
  const laneOrder = branches.slice(1).sort((a, b) => (b.active - a.active) || (a.items[0].col - b.items[0].col));
  if (branches.length) laneOrder.unshift(branches[0]);
  for (const br of laneOrder) {
    const first = br.items[0].col, last = br.items[br.items.length - 1].col;
    let lane = br === branches[0] ? 0 : laneEnd.findIndex((end, l) => l > 0 && end < first - 1);
    if (lane < 0) lane = Math.max(1, laneEnd.length);
    laneEnd[lane] = last;
    br.lane = lane;
  }
  const lanes = laneEnd.length;
  for (const it of items) { it.x = LEFT + it.col * COL; it.y = TOP + it.branch.lane * LANE; }
  return { items, drawn, kids, tips, active, activeLeaves, staleLeaves, lanes, cols: cols.length };
}

function render() {
  const svg = document.getElementById("tree");
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const L = layout();
  const staleBlocks = L.drawn.filter(b => !L.active.has(b.hash)).length;
  svg.setAttribute("width", LEFT * 2 + Math.max(1, L.cols) * COL);
  svg.setAttribute("height", TOP + Math.max(1, L.lanes) * LANE + 10);
  svg.dataset.blocks = L.drawn.length;
  svg.dataset.t = M.t;
  svg.dataset.activeBranches = L.activeLeaves.length;
  svg.dataset.staleBranches = L.staleLeaves.length;
  svg.dataset.staleBlocks = staleBlocks;
  const edges = el("g", { class: "edges" }, svg);
  const boxes = el("g", { class: "boxes" }, svg);
  for (const it of L.items) {
    const stale = !L.active.has((it.kind === "fold" ? it.run[it.run.length - 1] : it.b).hash);
    if (it.prev) {
      const x1 = it.prev.x + BOX_W, y1 = it.prev.y + BOX_H / 2, x2 = it.x, y2 = it.y + BOX_H / 2;
      const d = y1 === y2 ? `M${x1},${y1}H${x2}` : `M${x1},${y1}H${x1 + 10}V${y2}H${x2}`;
      el("path", { d, class: "edge" + (stale ? " stale" : "") }, edges);
    }
    const g = el("g", { transform: `translate(${it.x},${it.y})` }, boxes);
    if (it.kind === "fold") {
      const first = it.run[0], last = it.run[it.run.length - 1];
      g.setAttribute("class", "fold" + (stale ? " stale" : " active") + (last.finalized ? " finalized" : ""));
      g.dataset.state = stale ? "stale" : "active";
      g.dataset.blocks = it.run.length;
      g.dataset.height = first.height;
      el("rect", { width: BOX_W, height: BOX_H }, g);
      el("text", { x: 5, y: 14 }, g).textContent = `${it.run.length} blocks`;
      el("text", { x: 5, y: 27 }, g).textContent = first.height === last.height ? `h ${first.height}` : `h ${first.height}–${last.height}`;
      continue;
    }
    const b = it.b;
    const cls = ["block", stale ? "stale" : "active"];
    if (b.invalid) cls.push("invalid");
    if (b.finalized) cls.push("finalized");
    if (b.justified) cls.push("justified");
    if (b.inTurn === false) cls.push("outturn");
    if (b.withheld) cls.push("withheld");
    if (isByzantine(b)) cls.push("byzantine");
    if (L.tips.has(b.hash)) cls.push("tip");
    if (!(L.kids.get(b.hash) || []).length) cls.push("leaf");
    g.setAttribute("class", cls.join(" "));
    g.dataset.hash = b.hash;
    g.dataset.height = b.height;
    g.dataset.state = b.invalid ? "invalid" : stale ? "stale" : "active";
    const title = el("title", {}, g);
    title.textContent = `block ${b.hash}\nheight ${b.height}\nproducer ${producerName(b)}` +
      (b.inTurn != null ? `\n${b.inTurn ? "in turn" : "out of turn"}` : "") +
      (b.finalized ? (M.consensus === "bft" ? "\ndecided" : "\nfinalized") : "") + (b.justified ? "\njustified" : "") +
      (b.withheld ? (b.released ? "\nwithheld, then released" : "\nwithheld") : "") + (b.invalid ? "\ninvalid" : "");
    el("rect", { width: BOX_W, height: BOX_H, rx: 3 }, g);
    el("text", { x: 5, y: 14 }, g).textContent = `#${b.height} ${short(b.hash).slice(0, 4)}`;
    el("text", { x: 5, y: 27 }, g).textContent = producerName(b);
    const marks = [];
    if (b.finalized) marks.push(M.consensus === "bft" ? "D" : "F");
    if (b.justified && !b.finalized) marks.push("J");
    if (b.withheld) marks.push(b.released ? "W→R" : "W");
    if (b.invalid) marks.push("✗");
    if (b.producer != null && M.offenders.has(b.producer)) marks.push("!");
    if (marks.length) el("text", { x: BOX_W - 4, y: 27, "text-anchor": "end", class: "mark" + (marks.includes("!") ? " evidence" : "") }, g).textContent = marks.join(" ");
    const on = L.tips.get(b.hash);
    if (on) {
      const byz = on.some(i => node(i).role && node(i).role !== "honest");
      el("text", { x: 0, y: -4, class: "tiplabel" + (byz ? " byz" : "") }, g).textContent = "▼ " + on.map(nodeName).join(" ");
    }
  }
  renderSide(L, staleBlocks);
}

function renderSide(L, staleBlocks) {
  document.getElementById("mechanism").textContent = M.consensus;
  // Without status lines (a simulated run), a node's height is its tip's.
  M.nodes.forEach((x, i) => {
    const tb = M.blocks.get(M.tips.get(i));
    if (tb && tb.height != null && (x.height == null || x.fromTip)) { x.height = tb.height; x.fromTip = true; }
  });
  const best = Math.max(0, ...M.nodes.map(x => x.height || 0));
  document.getElementById("summary").textContent =
    `${L.drawn.length} blocks · ${L.activeLeaves.length} active branch${L.activeLeaves.length === 1 ? "" : "es"} · ` +
    `${L.staleLeaves.length} orphaned branch${L.staleLeaves.length === 1 ? "" : "es"} (${staleBlocks} blocks)` +
    (SOURCE === "replay" ? "" : ` · t ${(M.t / 1000).toFixed(1)} s`);
  const tbody = document.querySelector("#nodes tbody");
  tbody.textContent = "";
  M.nodes.forEach((x, i) => {
    const tr = document.createElement("tr");
    if (x.role && x.role !== "honest") tr.className = "byz";
    const lag = x.height != null ? best - x.height : "";
    const cells = [[x.name], [x.role], [x.height ?? ""], [x.peers ?? ""], [lag], [x.state, x.state],
      [short(M.tips.get(i))], [x.finality || ""]];
    for (const [v, c] of cells) {
      const td = document.createElement("td");
      td.textContent = v;
      if (c) td.className = c;
      tr.appendChild(td);
    }
    tr.dataset.node = x.name;
    tr.dataset.state = x.state;
    tbody.appendChild(tr);
  });
  const tl = document.getElementById("timeline");
  tl.textContent = "";
  for (const s of M.timeline) {
    const li = document.createElement("li");
    li.textContent = (s.at ? s.at + ": " : "") + s.what;
    if (s.done) li.className = "done";
    tl.appendChild(li);
  }
  const ev = document.getElementById("events");
  ev.textContent = "";
  for (const e of M.events.slice(-80).reverse()) {
    const li = document.createElement("li");
    li.className = e.cls;
    li.textContent = `${(e.t / 1000).toFixed(1)} s  ${e.text}`;
    ev.appendChild(li);
  }
}

let dirty = false, follow = true;
function changed() {
  if (dirty) return;
  dirty = true;
  setTimeout(() => {
    dirty = false;
    render();
    const box = document.getElementById("treebox");
    if (follow) box.scrollLeft = box.scrollWidth;
  }, 150);
}
document.getElementById("treebox").addEventListener("scroll", e => {
  const box = e.target;
  follow = box.scrollLeft + box.clientWidth >= box.scrollWidth - 40;
});

function conn(text, cls) {
  const c = document.getElementById("conn");
  c.textContent = text;
  c.className = "conn " + (cls || "");
}

// ---- sources ----

const NODE_EVENTS = ["block_imported", "block_produced", "reorg", "finalized", "justified",
  "evidence", "invalid_block", "block_withheld", "block_released"];

async function fromNode() {
  const t0 = Date.now();
  const es = new EventSource("/events");
  const pending = [];
  let ready = false;
  for (const name of NODE_EVENTS) {
    es.addEventListener(name, m => {
      const line = JSON.parse(m.data);
      if (line.event === "invalid_block") line.event = "invalid";
      line.node = 0; line.t = Date.now() - t0;
      if (ready) { apply(line); changed(); } else pending.push(line);
    });
  }
  // The tree is read once the stream is open (nothing falls between), and
  // again after a reconnect or when the tip is a block the page lacks.
  const load = async from => {
    const tree = await (await fetch(`/tree?from=${from}`)).json();
    apply({ event: "info", consensus: tree.consensus, nodes: [{ name: "this node", key: tree.validator }] });
    for (const b of tree.blocks) {
      // An undecided BFT proposal is no block of the chain.
      if (tree.consensus === "bft" && !b.main_chain) continue;
      apply({ event: "imported", node: null, hash: b.hash, parent: b.parent, height: b.height,
        producer: b.producer, in_turn: b.in_turn, main_chain: b.main_chain });
      if (b.invalid) block(b.hash).invalid = true;
      if (b.withheld) block(b.hash).withheld = true;
    }
    apply({ event: "status", node: 0, tip: tree.tip, height: tree.height, state: "running" });
    if (tree.finalized) markBack(tree.finalized, "finalized");
    if (tree.justified) block(tree.justified).justified = true;
  };
  es.onopen = async () => {
    conn("live", "live");
    ready = false;
    try { await load(0); } catch (e) { conn("no tree", "lost"); }
    ready = true;
    for (const l of pending.splice(0)) apply(l);
    changed();
  };
  es.onerror = () => conn("reconnecting", "lost");
  setInterval(async () => {
    try {
      const s = await (await fetch("/status")).json();
      if (ready && !M.blocks.has(s.tip)) await load(Math.max(0, s.height - 500));
      apply({ event: "status", node: 0, height: s.height, peers: s.peers, tip: s.tip, state: "running" });
      changed();
    } catch (e) { node(0).state = "unreachable"; changed(); }
  }, 2000);
}

function fromTestnet() {
  const es = new EventSource("/feed");
  es.onopen = () => conn("live", "live");
  es.onerror = () => conn("reconnecting", "lost");
  es.addEventListener("reset", () => { M = newModel(); });
  es.onmessage = m => { apply(JSON.parse(m.data)); changed(); };
}

async function fromLog() {
  document.getElementById("replay").hidden = false;
  const text = await (await fetch("/log")).text();
  const lines = text.split("\n").filter(l => l.trim()).map(l => JSON.parse(l));
  lines.sort((a, b) => (a.t || 0) - (b.t || 0));
  const end = lines.length ? lines[lines.length - 1].t || 0 : 0;
  const scrub = document.getElementById("scrub"), play = document.getElementById("play");
  scrub.max = end;
  let at = 0, next = 0, playing = false, last = 0;
  const seek = t => {
    if (t < at) { M = newModel(); next = 0; }
    while (next < lines.length && (lines[next].t || 0) <= t) apply(lines[next++]);
    at = t;
    scrub.value = t;
    document.getElementById("clock").textContent = `${(t / 1000).toFixed(1)} s of ${(end / 1000).toFixed(1)} s`;
    document.body.dataset.replayAt = t;
    changed();
  };
  scrub.addEventListener("input", () => seek(Number(scrub.value)));
  const tick = now => {
    if (!playing) return;
    const speed = Number(document.getElementById("speed").value);
    seek(Math.min(end, at + Math.max(0, now - last) * speed));
    last = now;
    if (at >= end) { playing = false; play.textContent = "play"; return; }
    requestAnimationFrame(tick);
  };
  play.addEventListener("click", () => {
    if (at >= end) seek(0);
    playing = !playing;
    play.textContent = playing ? "pause" : "play";
    last = performance.now();
    if (playing) requestAnimationFrame(tick);
  });
  conn(`replay of ${lines.length} events`, "");
  const q = new URLSearchParams(location.search).get("at");
  const asked = Number(q);
  seek(q === "end" ? end : Number.isFinite(asked) ? Math.max(0, Math.min(end, asked)) : 0);
}

({ node: fromNode, testnet: fromTestnet, replay: fromLog }[SOURCE] || fromNode)();
