// remem console: a page over the REST API (/v1/...). Plain JS, no build step, no other origin.
// Every call sends the key from sessionStorage as "Authorization: Bearer"; data is rendered with
// textContent only (never as HTML), so stored text cannot run in the page.
"use strict";

(() => {
  const KEY = "remem.key";
  const SCOPE = "remem.scope";
  const RECENT = "remem.recent-users";
  const QUARANTINED = "remem.quarantined";
  const SVG = "http://www.w3.org/2000/svg";
  const DIRECTED = new Set(["next", "supersedes", "derived_from", "merged"]);
  const MAX_NEIGHBOURS = 16;

  const $ = (id) => document.getElementById(id);
  const state = {
    scope: null, // {user_id, agent_id?, session_id?}
    cursors: [null],
    pageIndex: 0,
    current: null, // the record in the detail panel
    tab: "memories",
  };

  // -- storage ----------------------------------------------------------------------------

  const store = {
    get(name, fallback) {
      try {
        const raw = sessionStorage.getItem(name);
        return raw === null ? fallback : JSON.parse(raw);
      } catch (_) {
        return fallback;
      }
    },
    set(name, value) {
      sessionStorage.setItem(name, JSON.stringify(value));
    },
    drop(name) {
      sessionStorage.removeItem(name);
    },
  };

  // -- the API ----------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, data) {
      const name = (data && data.error) || `HTTP ${status}`;
      const detail = (data && data.detail) || "";
      super(detail ? `${name}: ${detail}` : name);
      this.status = status;
      this.data = data;
    }
  }

  // Paths are relative to the page (/ui/), so a proxy's path prefix is kept.
  function url(path, query) {
    const target = new URL("../" + path.replace(/^\//, ""), window.location.href);
    for (const [k, v] of Object.entries(query || {})) {
      if (v !== undefined && v !== null && v !== "") target.searchParams.set(k, String(v));
    }
    return target.toString();
  }

  async function api(method, path, { query, body } = {}) {
    const headers = { Accept: "application/json" };
    const key = store.get(KEY, null);
    if (key) headers.Authorization = `Bearer ${key}`;
    const init = { method, headers, credentials: "omit", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url(path, query), init);
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const error = new ApiError(response.status, data);
      if (response.status === 401) needKey(error.message);
      throw error;
    }
    return data;
  }

  const enc = encodeURIComponent;

  // -- small helpers ----------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k.startsWith("data-")) node.setAttribute(k, v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(0, 16).replace("T", " ") + "Z";
  }

  function short(text, n) {
    const s = String(text || "");
    return s.length > n ? s.slice(0, n - 1) + "…" : s;
  }

  function status(message, kind) {
    const box = $("status");
    box.textContent = message || "";
    box.className = kind || "";
  }

  // A call in flight shows in the header; only outcomes (an error, a saved change) are messages.
  let busy = 0;
  async function run(what, task) {
    if ($("status").className === "error") status("");
    busy += 1;
    document.body.classList.add("busy");
    try {
      return await task();
    } catch (error) {
      status(`${what} failed: ${error.message}`, "error");
      return undefined;
    } finally {
      busy -= 1;
      if (!busy) document.body.classList.remove("busy");
    }
  }

  // -- the key ----------------------------------------------------------------------------

  function showKeyState() {
    const key = store.get(KEY, null);
    $("key-state").textContent = key ? "key in use (this tab only)" : "no key";
    $("key").placeholder = key ? "•••• (a key is set)" : "rmk_… (empty for a keyless server)";
  }

  function needKey(message) {
    $("key-form").classList.add("needed");
    $("key").focus();
    $("key-state").textContent = `this server needs an API key (${message})`;
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("key").value.trim();
    if (value) store.set(KEY, value);
    $("key").value = "";
    $("key-form").classList.remove("needed");
    showKeyState();
    if (state.scope) openScope(state.scope);
  });

  $("key-forget").addEventListener("click", () => {
    store.drop(KEY);
    showKeyState();
  });

  // -- the scope --------------------------------------------------------------------------

  function scopeQuery(extra) {
    return { ...state.scope, ...(extra || {}) };
  }

  function rememberUser(user) {
    const recent = [user, ...store.get(RECENT, []).filter((u) => u !== user)].slice(0, 12);
    store.set(RECENT, recent);
    renderRecent();
  }

  function renderRecent() {
    $("recent-users").replaceChildren(...store.get(RECENT, []).map((u) => el("option", { value: u })));
  }

  function openScope(scope) {
    state.scope = scope;
    state.cursors = [null];
    state.pageIndex = 0;
    store.set(SCOPE, scope);
    rememberUser(scope.user_id);
    document.body.classList.add("scoped");
    refreshTab();
  }

  $("scope-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const scope = { user_id: $("user").value.trim() };
    if ($("agent").value.trim()) scope.agent_id = $("agent").value.trim();
    if ($("session").value.trim()) scope.session_id = $("session").value.trim();
    if (scope.user_id) openScope(scope);
  });

  $("goto-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("goto-id").value.trim();
    if (id) openMemory(id);
  });

  // -- tabs -------------------------------------------------------------------------------

  for (const button of document.querySelectorAll("[data-tab]")) {
    button.addEventListener("click", () => selectTab(button.dataset.tab));
  }

  function selectTab(tab) {
    state.tab = tab;
    if ($("status").className === "ok") status("");
    for (const button of document.querySelectorAll("[data-tab]")) {
      button.classList.toggle("active", button.dataset.tab === tab);
    }
    for (const name of ["memories", "search", "timeline", "quarantine"]) {
      $(`tab-${name}`).hidden = name !== tab;
    }
    refreshTab();
  }

  function refreshTab() {
    if (state.tab === "memories") return loadPage();
    if (state.tab === "quarantine") return loadQuarantine();
    if (state.tab === "timeline" && $("timeline-list").childElementCount) return loadTimeline();
    if (state.tab === "search" && $("query").value.trim()) return search();
    return undefined;
  }

  function requireScope() {
    if (state.scope) return true;
    status("Choose a user_id first.", "error");
    $("user").focus();
    return false;
  }

  // -- one record in a list ---------------------------------------------------------------

  function recordItem(record, ...extra) {
    const meta = [record.kind, record.origin, when(record.occurred_at || record.created_at)];
    if (record.session_id) meta.push(`session ${record.session_id}`);
    if (record.version > 1) meta.push(`v${record.version}`);
    const item = el(
      "li",
      { class: "record", "data-id": record.id, "data-level": record.level },
      el(
        "button",
        { type: "button", class: "open", onclick: () => openMemory(record.id) },
        el("span", { class: "text", text: record.content }),
        el("span", { class: "meta", text: meta.filter(Boolean).join(" · ") }),
      ),
      ...extra,
    );
    if (state.current && state.current.id === record.id) item.classList.add("selected");
    return item;
  }

  // -- memories, a page at a time ---------------------------------------------------------

  async function loadPage() {
    if (!requireScope()) return;
    const size = Number($("page-size").value);
    const cursor = state.cursors[state.pageIndex];
    const page = await run("Loading memories", () =>
      api("GET", "/v1/memories", { query: scopeQuery({ limit: size, cursor }) }),
    );
    if (!page) return;
    state.cursors.length = state.pageIndex + 1;
    if (page.next_cursor) state.cursors.push(page.next_cursor);
    const list = $("memory-list");
    list.replaceChildren(...page.records.map((r) => recordItem(r)));
    if (!page.records.length) list.append(el("li", { class: "empty", text: "No memories in this scope." }));
    const first = state.pageIndex * size + 1;
    $("page-info").textContent = page.records.length
      ? `page ${state.pageIndex + 1} · ${first}–${first + page.records.length - 1}`
      : `page ${state.pageIndex + 1}`;
    $("page-prev").disabled = state.pageIndex === 0;
    $("page-first").disabled = state.pageIndex === 0;
    $("page-next").disabled = !page.next_cursor;
  }

  $("page-next").addEventListener("click", () => {
    if (state.cursors.length > state.pageIndex + 1) {
      state.pageIndex += 1;
      loadPage();
    }
  });
  $("page-prev").addEventListener("click", () => {
    state.pageIndex = Math.max(0, state.pageIndex - 1);
    loadPage();
  });
  $("page-first").addEventListener("click", () => {
    state.pageIndex = 0;
    loadPage();
  });
  $("page-size").addEventListener("change", () => {
    state.cursors = [null];
    state.pageIndex = 0;
    loadPage();
  });

  // -- search -----------------------------------------------------------------------------

  // Each retriever's rank and each ranking component, as the server explains the hit.
  function explainList(explain) {
    const items = Object.entries(explain || {}).map(([k, v]) =>
      el(
        "div",
        { "data-key": k },
        el("dt", { text: k }),
        el("dd", { text: typeof v === "number" ? String(+v.toFixed(4)) : JSON.stringify(v) }),
      ),
    );
    return el("dl", { class: "explain", title: "explain: retriever ranks and score components" }, ...items);
  }

  async function search() {
    if (!requireScope()) return;
    const query = $("query").value.trim();
    if (!query) return;
    const body = { query, ...state.scope, limit: Number($("search-limit").value) || 10 };
    const result = await run("Searching", () => api("POST", "/v1/memories/search", { body }));
    if (!result) return;
    const list = $("hit-list");
    list.replaceChildren(
      ...result.hits.map((hit) =>
        recordItem(
          hit.record,
          el(
            "div",
            { class: "hit" },
            el("span", { class: "score", text: `score ${hit.score.toFixed(3)}` }),
            hit.flags && hit.flags.length ? el("span", { class: "flags", text: hit.flags.join(", ") }) : null,
            explainList(hit.explain),
          ),
        ),
      ),
    );
    if (!result.hits.length) list.append(el("li", { class: "empty", text: "Nothing found." }));
  }

  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    search();
  });

  // -- timeline ---------------------------------------------------------------------------

  async function loadTimeline() {
    if (!requireScope()) return;
    const query = scopeQuery({
      start: $("tl-start").value.trim(),
      end: $("tl-end").value.trim(),
      limit: Number($("tl-limit").value) || 100,
    });
    const result = await run("Loading the timeline", () => api("GET", "/v1/timeline", { query }));
    if (!result) return;
    const list = $("timeline-list");
    list.replaceChildren(
      ...result.records.map((r) => {
        const item = recordItem(r);
        item.prepend(el("time", { datetime: r.occurred_at, text: when(r.occurred_at) }));
        return item;
      }),
    );
    if (!result.records.length) list.append(el("li", { class: "empty", text: "No events in this range." }));
  }

  $("timeline-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadTimeline();
  });

  // -- quarantine -------------------------------------------------------------------------

  function quarantined() {
    return store.get(QUARANTINED, {});
  }

  function noteLevel(record) {
    const all = quarantined();
    if (record.level === "quarantine") all[record.id] = record.user_id;
    else delete all[record.id];
    store.set(QUARANTINED, all);
  }

  async function loadQuarantine() {
    const list = $("quarantine-list");
    const items = [];
    for (const id of Object.keys(quarantined())) {
      try {
        const record = await api("GET", `/v1/memories/${enc(id)}`);
        noteLevel(record);
        if (record.level !== "quarantine") continue;
        if (state.scope && record.user_id !== state.scope.user_id) continue;
        items.push(
          recordItem(
            record,
            el("button", { type: "button", class: "restore", onclick: () => act("restore", record) }, "Restore"),
          ),
        );
      } catch (error) {
        if (error.status === 404) noteLevel({ id, level: "gone" });
        else status(`Loading the quarantine failed: ${error.message}`, "error");
      }
    }
    list.replaceChildren(...items);
    if (!items.length) list.append(el("li", { class: "empty", text: "Nothing quarantined from this console." }));
  }

  // -- one memory: detail, history, links -------------------------------------------------

  const FIELDS = [
    "user_id", "agent_id", "session_id", "speaker", "kind", "origin", "trust", "version",
    "occurred_at", "created_at", "updated_at", "valid_from", "valid_to", "expires_at",
    "keywords", "entities", "dates", "tags", "context", "flags", "sources", "metadata",
  ];

  async function openMemory(id) {
    const record = await run("Opening the memory", () => api("GET", `/v1/memories/${enc(id)}`));
    if (!record) return;
    showMemory(record);
    await Promise.all([loadHistory(record), loadLinks(record)]);
  }

  function showMemory(record) {
    state.current = record;
    noteLevel(record);
    $("detail").hidden = false;
    $("detail").dataset.id = record.id;
    $("d-id").textContent = record.id;
    $("d-level").textContent = record.level;
    $("d-level").className = `badge level-${record.level}`;
    $("d-content").textContent = record.content;
    const rows = [];
    for (const name of FIELDS) {
      let value = record[name];
      if (value === null || value === undefined || value === "") continue;
      if (Array.isArray(value)) {
        if (!value.length) continue;
        value = value.join(", ");
      } else if (typeof value === "object") {
        if (!Object.keys(value).length) continue;
        value = JSON.stringify(value);
      } else if (name.endsWith("_at") || name.startsWith("valid_")) {
        value = when(value);
      }
      rows.push(el("dt", { text: name }), el("dd", { "data-field": name, text: String(value) }));
    }
    $("d-fields").replaceChildren(...rows);
    const inQuarantine = record.level === "quarantine";
    $("act-quarantine").hidden = inQuarantine;
    $("act-restore").hidden = !inQuarantine;
    $("edit-form").hidden = true;
    $("confirm-delete").hidden = true;
    for (const item of document.querySelectorAll("li.record")) {
      item.classList.toggle("selected", item.dataset.id === record.id);
    }
  }

  async function loadHistory(record) {
    const result = await run("Loading the history", () =>
      api("GET", `/v1/memories/${enc(record.id)}/history`, { query: { user_id: record.user_id } }),
    );
    if (!result) return;
    $("history-list").replaceChildren(
      ...result.entries.map((entry) => {
        const before = entry.before && entry.before.content;
        const after = entry.after && entry.after.content;
        return el(
          "li",
          { class: `entry op-${entry.op}`, "data-op": entry.op, "data-version": entry.version },
          el("span", { class: "op", text: entry.op }),
          el("span", { class: "version", text: `v${entry.version}` }),
          el("time", { datetime: entry.at, text: when(entry.at) }),
          entry.actor ? el("span", { class: "actor", text: entry.actor }) : null,
          entry.reason ? el("span", { class: "reason", text: `“${entry.reason}”` }) : null,
          before !== undefined && after !== undefined && before !== after
            ? el("div", { class: "change" }, el("del", { text: before }), el("ins", { text: after }))
            : null,
          entry.before || entry.after
            ? el(
                "details",
                {},
                el("summary", { text: "before / after" }),
                el("pre", { text: JSON.stringify({ before: entry.before, after: entry.after }, null, 2) }),
              )
            : null,
        );
      }),
    );
  }

  async function loadLinks(record) {
    const result = await run("Loading the links", () =>
      api("GET", `/v1/memories/${enc(record.id)}/links`, { query: { user_id: record.user_id } }),
    );
    if (!result) return;
    // One edge per neighbour; the relations between the pair make up its label.
    const byNeighbour = new Map();
    for (const link of result.links) {
      const other = link.a === record.id ? link.b : link.a;
      if (other === record.id) continue;
      if (!byNeighbour.has(other)) byNeighbour.set(other, []);
      byNeighbour.get(other).push(link);
    }
    const ids = [...byNeighbour.keys()];
    const shown = ids.slice(0, MAX_NEIGHBOURS);
    const neighbours = await Promise.all(
      shown.map((id) =>
        api("GET", `/v1/memories/${enc(id)}`).catch(() => ({ id, content: "(gone)", level: "gone" })),
      ),
    );
    drawGraph(record, neighbours, byNeighbour, ids.length - shown.length);
    const contentOf = new Map(neighbours.map((n) => [n.id, n.content]));
    $("link-table").tBodies[0].replaceChildren(
      ...result.links.map((link) => {
        const other = link.a === record.id ? link.b : link.a;
        const arrow = DIRECTED.has(link.relation) ? (link.a === record.id ? " →" : " ←") : "";
        return el(
          "tr",
          { "data-relation": link.relation },
          el("td", { text: link.relation + arrow }),
          el("td", { text: link.weight.toFixed(2) }),
          el(
            "td",
            {},
            el("a", { href: "#", onclick: (e) => { e.preventDefault(); openMemory(other); } },
              short(contentOf.get(other) || other, 60)),
          ),
        );
      }),
    );
    if (!result.links.length) {
      $("link-table").tBodies[0].append(el("tr", {}, el("td", { colspan: "3", class: "empty", text: "No links." })));
    }
  }

  function edgeLabel(links, centre) {
    return links
      .map((l) => l.relation + (DIRECTED.has(l.relation) ? (l.a === centre ? " →" : " ←") : ""))
      .join(", ");
  }

  function drawGraph(record, neighbours, byNeighbour, hidden) {
    const width = 560;
    const height = 380;
    const cx = width / 2;
    const cy = height / 2;
    const radius = neighbours.length < 5 ? 115 : 140;
    // One or two neighbours sit beside the memory, more go round it.
    const start = neighbours.length < 3 ? 0 : -Math.PI / 2;
    const root = svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      class: "graph-svg",
      role: "img",
      "aria-label": `memory ${record.id} and ${neighbours.length} linked memories`,
    });
    const edges = svg("g", { class: "edges" });
    const nodes = svg("g", { class: "nodes" });
    root.append(edges, nodes);
    const place = (i) => {
      const angle = start + (2 * Math.PI * i) / Math.max(1, neighbours.length);
      return [cx + radius * 1.45 * Math.cos(angle), cy + radius * Math.sin(angle)];
    };
    neighbours.forEach((n, i) => {
      const [x, y] = place(i);
      const links = byNeighbour.get(n.id) || [];
      const label = edgeLabel(links, record.id);
      const relations = [...new Set(links.map((l) => l.relation))].join(" ");
      edges.append(
        svg("line", {
          x1: cx,
          y1: cy,
          x2: x,
          y2: y,
          class: `edge ${relations}`,
          "data-to": n.id,
          "stroke-width": Math.min(5, 1 + Math.max(...links.map((l) => l.weight))).toFixed(1),
        }),
        svg("text", {
          x: cx + (x - cx) * 0.5,
          y: cy + (y - cy) * 0.5 - 4,
          class: "edge-label",
          "data-to": n.id,
          "data-relations": relations,
          "text-anchor": "middle",
          text: label,
        }),
      );
      nodes.append(node(n, x, y, 16, false, y < cy - 1));
    });
    nodes.append(node(record, cx, cy, 24, true, false));
    if (hidden > 0) {
      root.append(svg("text", { x: 8, y: height - 8, class: "more", text: `+${hidden} more in the table` }));
    }
    $("graph").replaceChildren(
      neighbours.length ? root : el("p", { class: "muted", text: "No linked memories." }),
    );
  }

  function node(record, x, y, r, centre, labelAbove) {
    const group = svg("g", {
      class: `node${centre ? " centre" : ""} level-${record.level}`,
      "data-id": record.id,
      transform: `translate(${x.toFixed(1)},${y.toFixed(1)})`,
      tabindex: centre ? "-1" : "0",
    });
    group.append(svg("title", { text: record.content }), svg("circle", { r }));
    // The memory itself is the panel's subject (its content is above): only neighbours get a label.
    if (!centre) {
      group.append(
        svg("text", {
          y: labelAbove ? -r - 8 : r + 14,
          "text-anchor": "middle",
          text: short(record.content, 24),
        }),
      );
    }
    if (!centre) {
      group.addEventListener("click", () => openMemory(record.id));
      group.addEventListener("keydown", (e) => {
        if (e.key === "Enter") openMemory(record.id);
      });
    }
    return group;
  }

  for (const button of document.querySelectorAll("[data-sub]")) {
    button.addEventListener("click", () => {
      for (const other of document.querySelectorAll("[data-sub]")) {
        other.classList.toggle("active", other === button);
      }
      $("sub-history").hidden = button.dataset.sub !== "history";
      $("sub-links").hidden = button.dataset.sub !== "links";
    });
  }

  // -- actions: edit, quarantine, restore, delete -----------------------------------------

  function reason() {
    const value = $("act-reason").value.trim();
    return value || undefined;
  }

  async function act(verb, record) {
    const body = { user_id: record.user_id };
    if (reason()) body.reason = reason();
    const label = verb === "restore" ? "Restoring" : "Quarantining";
    const updated = await run(label, () => api("POST", `/v1/memories/${enc(record.id)}/${verb}`, { body }));
    if (!updated) return;
    noteLevel(updated);
    $("act-reason").value = "";
    status(verb === "restore" ? "Restored." : "Quarantined: hidden from search and listing.", "ok");
    await afterChange(updated.id);
  }

  async function afterChange(id) {
    await refreshTab();
    if (id) await openMemory(id);
  }

  $("act-quarantine").addEventListener("click", () => state.current && act("quarantine", state.current));
  $("act-restore").addEventListener("click", () => state.current && act("restore", state.current));

  $("act-edit").addEventListener("click", () => {
    const record = state.current;
    if (!record) return;
    $("edit-content").value = record.content;
    $("edit-metadata").value = JSON.stringify(record.metadata || {}, null, 2);
    $("edit-form").hidden = false;
    $("edit-content").focus();
  });
  $("edit-cancel").addEventListener("click", () => {
    $("edit-form").hidden = true;
  });
  $("edit-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const record = state.current;
    if (!record) return;
    const body = { user_id: record.user_id };
    const content = $("edit-content").value;
    if (content !== record.content) body.content = content;
    let metadata;
    try {
      metadata = JSON.parse($("edit-metadata").value || "{}");
    } catch (error) {
      status(`metadata is not valid JSON: ${error.message}`, "error");
      return;
    }
    if (JSON.stringify(metadata) !== JSON.stringify(record.metadata || {})) body.metadata = metadata;
    if (!("content" in body) && !("metadata" in body)) {
      status("Nothing changed.", "ok");
      return;
    }
    if (reason()) body.reason = reason();
    const updated = await run("Saving", () => api("PATCH", `/v1/memories/${enc(record.id)}`, { body }));
    if (!updated) return;
    $("act-reason").value = "";
    status(`Saved as version ${updated.version}.`, "ok");
    await afterChange(updated.id);
  });

  $("act-delete").addEventListener("click", () => {
    if (state.current) $("confirm-delete").hidden = false;
  });
  $("act-delete-cancel").addEventListener("click", () => {
    $("confirm-delete").hidden = true;
  });
  $("act-delete-confirm").addEventListener("click", async () => {
    const record = state.current;
    if (!record) return;
    const query = { user_id: record.user_id, reason: reason() };
    const done = await run("Deleting", async () => {
      await api("DELETE", `/v1/memories/${enc(record.id)}`, { query });
      return true;
    });
    if (!done) return;
    noteLevel({ id: record.id, level: "gone" });
    state.current = null;
    $("detail").hidden = true;
    $("act-reason").value = "";
    status(`Deleted ${record.id}.`, "ok");
    await refreshTab();
  });

  // -- start ------------------------------------------------------------------------------

  showKeyState();
  renderRecent();
  const saved = store.get(SCOPE, null);
  if (saved && saved.user_id) {
    $("user").value = saved.user_id;
    $("agent").value = saved.agent_id || "";
    $("session").value = saved.session_id || "";
    openScope(saved);
  } else {
    $("user").focus();
  }
})();
