// The game page: a Yjs peer of the shared world (y-websocket), canvas rendering, keyboard play.
import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";

const params = new URLSearchParams(location.search);
const player = params.get("player") || localStorage.getItem("swarmkit-player") ||
  "guest-" + Math.random().toString(36).slice(2, 8);
localStorage.setItem("swarmkit-player", player);
const room = params.get("room") || "world";

const doc = new Y.Doc();
const levels = doc.getMap("levels");
const votes = doc.getMap("votes");
const ratings = doc.getMap("ratings");
const progress = doc.getMap("progress");
const wsUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host;
const provider = new WebsocketProvider(wsUrl, room, doc);

const COLORS = { "#": "#3a3f4b", ".": "#1b1e24", "S": "#2e7d32", "E": "#f9a825", "^": "#c62828",
  "a": "#42a5f5", "b": "#ab47bc", "c": "#26a69a", "A": "#1565c0", "B": "#6a1b9a", "C": "#00695c" };
const $ = (id) => document.getElementById(id);
const parse = (s) => { try { return JSON.parse(s); } catch { return null; } };
let selected = null;
let play = null; // {rows, y, x, keys:Set, moves, solved, dead}

$("player").textContent = player;
provider.on("status", (e) => { $("conn").textContent = e.status; document.body.dataset.conn = e.status; });
provider.on("sync", (synced) => { document.body.dataset.synced = String(synced); });

function levelList() {
  const out = [];
  levels.forEach((v, k) => { const l = parse(v); if (l && Array.isArray(l.rows)) out.push(l); });
  out.sort((a, b) => (a.id < b.id ? -1 : 1));
  return out;
}
function meanRating(id) {
  let n = 0, s = 0;
  ratings.forEach((v) => { const r = parse(v); if (r && r.level === id) { n++; s += r.stars; } });
  return n ? [s / n, n] : [null, 0];
}
function myRating(id) { const r = parse(ratings.get(id + "|" + player) || "null"); return r ? r.stars : null; }

function renderList() {
  const list = levelList();
  $("counts").textContent = `${list.length} levels · ${ratings.size} ratings · ${votes.size} votes`;
  const box = $("levels");
  box.innerHTML = "";
  for (const l of list) {
    const [avg, n] = meanRating(l.id);
    const v = parse(votes.get(l.id) || "null");
    const d = document.createElement("div");
    d.className = "lvl" + (selected === l.id ? " sel" : "");
    d.dataset.id = l.id;
    d.innerHTML = `<b>${l.id.slice(0, 8)}</b> ${l.params.kind} by ${l.author}<br>` +
      `<span class="muted">difficulty ${(l.metrics?.difficulty ?? l.params.difficulty).toFixed(2)} · ` +
      `votes ${v ? v.approvals + "/5" : "?"} · rating ${avg === null ? "–" : avg.toFixed(1) + " (" + n + ")"}</span>`;
    d.onclick = () => select(l.id);
    box.appendChild(d);
  }
}

function select(id) {
  const l = parse(levels.get(id) || "null");
  if (!l) return;
  selected = id;
  const rows = l.rows.map((r) => r.split(""));
  let y = 0, x = 0;
  rows.forEach((r, i) => r.forEach((c, j) => { if (c === "S") { y = i; x = j; } }));
  play = { rows, y, x, keys: new Set(), moves: 0, solved: false, dead: false, level: l };
  $("title").textContent = `level ${id} · ${l.params.kind} · by ${l.author} · solution ${l.metrics?.length ?? "?"} steps`;
  renderList(); draw(); renderVotes(); renderStars();
}

function draw() {
  const cv = $("board"), g = cv.getContext("2d");
  g.fillStyle = "#14161b"; g.fillRect(0, 0, cv.width, cv.height);
  if (!play) return;
  const h = play.rows.length, w = play.rows[0].length;
  const t = Math.floor(Math.min(cv.width / w, cv.height / h));
  play.rows.forEach((r, i) => r.forEach((c, j) => {
    let ch = c;
    if ("abc".includes(c) && play.keys.has(c)) ch = ".";
    if ("ABC".includes(c) && play.keys.has(c.toLowerCase())) ch = ".";
    g.fillStyle = COLORS[ch] || "#000"; g.fillRect(j * t, i * t, t - 1, t - 1);
    if ("abcABC".includes(ch)) { g.fillStyle = "#fff"; g.font = `${t * 0.7}px monospace`; g.fillText(ch, j * t + t * 0.25, i * t + t * 0.75); }
  }));
  g.fillStyle = play.dead ? "#f44" : "#fff";
  g.beginPath(); g.arc(play.x * t + t / 2, play.y * t + t / 2, t * 0.35, 0, 7); g.fill();
  $("state").textContent = play.solved ? `solved in ${play.moves} moves — rate it!` :
    play.dead ? "a hazard got you — press R" : `moves ${play.moves} · keys ${[...play.keys].join(",") || "none"}`;
}

function move(dy, dx) {
  if (!play || play.solved || play.dead) return;
  const ny = play.y + dy, nx = play.x + dx;
  const c = play.rows[ny]?.[nx];
  if (c === undefined || c === "#") return;
  if ("ABC".includes(c) && !play.keys.has(c.toLowerCase())) return;
  play.y = ny; play.x = nx; play.moves++;
  if ("abc".includes(c)) play.keys.add(c);
  if (c === "^") play.dead = true;
  if (c === "E") {
    play.solved = true;
    progress.set(player, JSON.stringify({ level: selected, solved: true, moves: play.moves, at: Date.now() / 1000 }));
  }
  draw();
}

function rate(level, stars) {
  ratings.set(level + "|" + player, JSON.stringify({ level, player, stars, at: Date.now() / 1000 }));
}
function renderStars() {
  const mine = selected ? myRating(selected) : null;
  document.querySelectorAll("#stars button").forEach((b) => b.classList.toggle("on", Number(b.dataset.s) === mine));
}
function renderVotes() {
  const v = selected ? parse(votes.get(selected) || "null") : null;
  $("votes").innerHTML = v ? "<tr><th>voter</th><th>verdict</th><th>reason</th></tr>" +
    v.ballots.map((b) => `<tr><td>${b.voter}</td><td>${b.verdict}</td><td>${b.reason}</td></tr>`).join("") : "";
}

document.querySelectorAll("#stars button").forEach((b) => {
  b.onclick = () => { if (selected) { rate(selected, Number(b.dataset.s)); } };
});
document.addEventListener("keydown", (e) => {
  const k = e.key;
  if (k === "ArrowUp" || k === "w") move(-1, 0);
  else if (k === "ArrowDown" || k === "s") move(1, 0);
  else if (k === "ArrowLeft" || k === "a") move(0, -1);
  else if (k === "ArrowRight" || k === "d") move(0, 1);
  else if (k === "r" && selected) select(selected);
  else return;
  e.preventDefault();
});
$("new").onclick = async () => {
  $("reqstatus").textContent = "generating and voting…";
  try {
    const r = await fetch(`/api/levels?player=${encodeURIComponent(player)}`, { method: "POST" });
    const body = await r.json();
    $("reqstatus").textContent = body.accepted ? `accepted ${body.level.slice(0, 8)} (arrives via the CRDT)` : (body.error || "no level passed the vote");
    if (body.accepted) { const id = body.level; const t = setInterval(() => { if (levels.has(id)) { clearInterval(t); select(id); } }, 50); }
  } catch (err) { $("reqstatus").textContent = String(err); }
};

levels.observe(() => { renderList(); if (!selected) { const l = levelList(); if (l.length) select(l[0].id); } });
ratings.observe(() => { renderList(); renderStars(); });
votes.observe(() => { renderList(); renderVotes(); });

// For tests and the console.
window.game = { doc, player, provider, levels, ratings, votes, progress, rate, select, move,
  levelIds: () => levelList().map((l) => l.id) };
