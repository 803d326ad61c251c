(function () {
  "use strict";
  var PAGE = 500;  // rows shown at once: laying out 10k table rows takes seconds
  var coll = new Intl.Collator("zh-CN", {numeric: true});
  var LABELS = JSON.parse(document.getElementById("pc-labels").textContent);
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (m, k) { return k in values ? values[k] : m; });
  }

  // Reorder or re-filter a tbody while it is detached, then put it back: one layout.
  function detached(body, fn) {
    var parent = body.parentNode, next = body.nextSibling;
    parent.removeChild(body);
    fn();
    parent.insertBefore(body, next);
  }

  function sortable(table, after) {
    var body = table.tBodies[0];
    if (!body || !table.tHead) return;
    var rows = Array.prototype.slice.call(body.rows);
    table.tHead.addEventListener("click", function (ev) {
      var th = ev.target.closest("th");
      if (!th) return;
      var col = th.cellIndex, numeric = th.dataset.t === "n";
      var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      var keys = rows.map(function (r, i) {
        var c = r.cells[col], v = c ? (c.dataset.v !== undefined ? c.dataset.v : c.textContent)
                                    : "";
        if (numeric) { v = parseFloat(v); if (isNaN(v)) v = -Infinity; }
        return [v, i];
      });
      keys.sort(function (a, b) {
        var d = numeric ? (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0) : coll.compare(a[0], b[0]);
        return d * dir || a[1] - b[1];
      });
      detached(body, function () {
        for (var k = 0; k < keys.length; k++) body.appendChild(rows[keys[k][1]]);
        if (after) after();
      });
      Array.prototype.forEach.call(th.parentNode.cells, function (h) {
        h.removeAttribute("aria-sort");
      });
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    });
  }

  var table = document.getElementById("conv-table");
  var input = document.getElementById("filter");
  var only = document.getElementById("only-failed");
  var count = document.getElementById("count");
  var more = document.getElementById("more");
  var tbody = table ? table.tBodies[0] : null;
  var limit = PAGE;
  var texts = null;
  function show() {  // filter and page the conversation rows, in their current (sorted) order
    var rows = tbody.rows, n = rows.length;
    var q = input.value.trim().toLowerCase(), failedOnly = only.checked;
    if (q && texts === null) {
      texts = new Map();
      for (var j = 0; j < n; j++) texts.set(rows[j], rows[j].textContent.toLowerCase());
    }
    var matched = 0, shown = 0;
    for (var i = 0; i < n; i++) {
      var r = rows[i];
      var ok = !((q && texts.get(r).indexOf(q) < 0) || (failedOnly && !r.classList.contains("f")));
      if (ok) matched++;
      var hide = !ok || matched > limit;
      if (!hide) shown++;
      if (r.hidden !== hide) r.hidden = hide;
    }
    count.textContent = fill(LABELS.count, {shown: shown, matched: matched, n: n});
    more.hidden = matched <= limit;
  }
  if (tbody && input && only && count && more) {
    sortable(table, show);
    var timer = 0;
    var refresh = function () { limit = PAGE; detached(tbody, show); };
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 150);
    });
    only.addEventListener("change", refresh);
    more.addEventListener("click", function () { limit += PAGE * 4; detached(tbody, show); });
    detached(tbody, show);
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (t) {
    if (t !== table) sortable(t, null);
  });

  function openTarget() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (!el) return;
    var d = el.tagName === "DETAILS" ? el : el.closest("details");
    if (d && !d.open) { d.open = true; el.scrollIntoView(); }
  }
  // basis links show their clause on hover, looked up once from the bases section
  document.addEventListener("mouseover", function (ev) {
    var a = ev.target.closest ? ev.target.closest("a.b") : null;
    if (!a || a.title) return;
    var dd = document.getElementById(a.getAttribute("href").slice(1));
    if (dd) a.title = dd.textContent;
  });

  // ---------------------------------------------------------------- review marks
  // Each finding (li[data-k]) and failed rule (tr[data-rule]) of a conversation
  // (details[data-cid]) can be marked confirmed / false_positive / pending with a comment.
  // Marks live in localStorage under this report's id; verdicts already merged into the run
  // (#pc-verdicts) are the starting state. Export writes them as CSV or JSON for
  // `phrasecheck review apply`.
  var VERDICTS = ["confirmed", "false_positive", "pending"];
  var STORE = "phrasecheck-review:" + (document.body.dataset.report || "");
  var store = {};
  var storage = null;
  try { storage = window.localStorage; store = JSON.parse(storage.getItem(STORE) || "{}") || {}; }
  catch (e) { storage = null; store = {}; }
  var seeded = {};
  JSON.parse(document.getElementById("pc-verdicts").textContent).forEach(function (v) {
    var key = v.g === "rule" ? ["r", v.c, v.r].join("\u0001")
                             : ["f", v.c, [v.t === null ? "" : v.t, v.s, v.e].join(":"), v.k]
                                 .join("\u0001");
    seeded[key] = {v: v.v, m: v.m || "", w: v.w || "", at: v.at || ""};
  });
  function save() {
    if (storage) { try { storage.setItem(STORE, JSON.stringify(store)); } catch (e) { /* full */ } }
  }
  function state(key) { return store[key] || seeded[key] || null; }
  var reviewer = document.getElementById("rv-reviewer");
  if (reviewer) {
    try { reviewer.value = (storage && storage.getItem("phrasecheck-reviewer")) || ""; }
    catch (e) { /* no storage */ }
    reviewer.addEventListener("change", function () {
      if (storage) { try { storage.setItem("phrasecheck-reviewer", reviewer.value); } catch (e) {} }
    });
  }

  function itemKey(el, cid) {
    return el.dataset.rule !== undefined ? ["r", cid, el.dataset.rule].join("\u0001")
                                         : ["f", cid, el.dataset.at, el.dataset.k].join("\u0001");
  }
  var convs = [];  // [details, [[el, key], ...]]
  Array.prototype.forEach.call(document.querySelectorAll("details[data-cid]"), function (d) {
    var cid = d.dataset.cid, items = [];
    Array.prototype.forEach.call(d.querySelectorAll("li[data-k], tr[data-rule]"), function (el) {
      items.push([el, itemKey(el, cid)]);
    });
    convs.push([d, items]);
  });

  function paint(el, key) {
    var s = state(key);
    VERDICTS.forEach(function (v) { el.classList.toggle("rv-" + v, !!s && s.v === v); });
    var box = el.querySelector(".rv");
    if (box) {
      Array.prototype.forEach.call(box.querySelectorAll("button"), function (b) {
        b.setAttribute("aria-pressed", s && s.v === b.dataset.v ? "true" : "false");
      });
      var c = box.querySelector("input");
      if (c && document.activeElement !== c) c.value = s ? s.m || "" : "";
    }
  }
  function summarize(d, items) {
    var done = 0;
    items.forEach(function (it) { if (state(it[1])) done++; });
    var sum = d.querySelector(".rv-sum");
    if (sum) sum.textContent = items.length ? " " + fill(LABELS.counts, {done: done, n: items.length}) : "";
  }
  function controls(el, key, d, items) {
    if (el.querySelector(".rv")) return;
    var box = document.createElement("span");
    box.className = "rv";
    VERDICTS.forEach(function (v) {
      var b = document.createElement("button");
      b.type = "button";
      b.dataset.v = v;
      b.className = "rv-b rv-" + v;
      b.textContent = LABELS.verdicts[v];
      b.addEventListener("click", function (ev) {
        ev.preventDefault();
        var s = state(key);
        if (s && s.v === v && store[key]) delete store[key];
        else store[key] = {v: v, m: (s && s.m) || "", w: reviewer ? reviewer.value : "",
                           at: new Date().toISOString()};
        save(); paint(el, key); summarize(d, items); counts();
      });
      box.appendChild(b);
    });
    var c = document.createElement("input");
    c.type = "text";
    c.placeholder = LABELS.comment;
    c.addEventListener("change", function () {
      var s = state(key) || {v: "pending", m: ""};
      store[key] = {v: s.v, m: c.value, w: reviewer ? reviewer.value : "",
                    at: new Date().toISOString()};
      save(); paint(el, key); summarize(d, items); counts();
    });
    box.appendChild(c);
    var host = el.tagName === "TR" ? el.cells[0] : el;
    host.appendChild(box);
    paint(el, key);
  }
  convs.forEach(function (pair) {
    var d = pair[0], items = pair[1];
    items.forEach(function (it) { paint(it[0], it[1]); });
    summarize(d, items);
    // the buttons are added when a conversation is first opened (thousands of findings
    // would otherwise slow the page down before anyone looks)
    var add = function () { if (d.open) items.forEach(function (it) { controls(it[0], it[1], d, items); }); };
    d.addEventListener("toggle", add);
    add();
  });

  var total = convs.reduce(function (n, p) { return n + p[1].length; }, 0);
  var countEl = document.getElementById("rv-count");
  function counts() {
    if (!countEl) return;
    var done = 0;
    convs.forEach(function (p) { p[1].forEach(function (it) { if (state(it[1])) done++; }); });
    countEl.textContent = fill(LABELS.counts, {done: done, n: total});
  }
  counts();

  var filterEl = document.getElementById("rv-filter");
  if (filterEl) filterEl.addEventListener("change", function () {
    var want = filterEl.value;
    convs.forEach(function (p) {
      var any = false;
      p[1].forEach(function (it) {
        var s = state(it[1]);
        var ok = !want || (want === "open" ? !s : !!s && s.v === want);
        it[0].classList.toggle("rv-dim", !!want && !ok);
        any = any || ok;
      });
      p[0].hidden = !!want && !any;
    });
  });

  // what to export: every mark, with what the report shows of the item
  function codePoints(s) { return Array.from(s || ""); }
  function exported() {
    var out = [];
    var byCid = {};
    convs.forEach(function (p) { byCid[p[0].dataset.cid] = p; });
    var keys = Object.keys(seeded).concat(Object.keys(store));
    var seen = {};
    keys.forEach(function (key) {
      if (seen[key]) return;
      seen[key] = true;
      var s = state(key);
      if (!s) return;
      var parts = key.split("\u0001");
      var row = {conversation_id: parts[1], target: parts[0] === "r" ? "rule" : "finding",
                 turn: null, start: null, end: null, code: "", rule: "", text: "", context: "",
                 verdict: s.v, reviewer: s.w || "", comment: s.m || "", time: s.at || ""};
      var p = byCid[parts[1]];
      if (parts[0] === "r") {
        row.rule = parts[2];
      } else {
        var at = parts[2].split(":");
        row.turn = at[0] === "" ? null : parseInt(at[0], 10);
        row.start = parseInt(at[1], 10);
        row.end = parseInt(at[2], 10);
        row.code = parts[3];
        if (p) {
          p[1].forEach(function (it) { if (it[1] === key) row.rule = it[0].dataset.rules || ""; });
          var tx = row.turn === null ? null
                   : p[0].querySelector("#" + p[0].id + "t" + row.turn + " .tx");
          if (tx) {
            var chars = codePoints(tx.textContent);
            row.text = chars.slice(row.start, row.end).join("");
            row.context = chars.slice(Math.max(0, row.start - 40), row.end + 40).join("");
          }
        }
      }
      out.push(row);
    });
    return out;
  }
  var COLUMNS = ["conversation_id", "target", "turn", "start", "end", "code", "rule", "text",
                 "context", "verdict", "reviewer", "comment", "time"];
  function csvCell(v) {
    var s = v === null || v === undefined ? "" : String(v);
    // a cell a spreadsheet would run as a formula is written as text
    if (/^[ \u00a0\u3000\n]*[=+\-@\t\r＝＋－＠]/.test(s)) s = "'" + s;
    return /[",\r\n]/.test(s) ? "\"" + s.replace(/"/g, "\"\"") + "\"" : s;
  }
  function download(name, type, text) {
    var url = URL.createObjectURL(new Blob([text], {type: type}));
    var a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(url); a.remove(); }, 2000);
  }
  function stamp() { return new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19); }
  var csvButton = document.getElementById("rv-csv");
  if (csvButton) csvButton.addEventListener("click", function () {
    var lines = [COLUMNS.join(",")];
    exported().forEach(function (r) {
      lines.push(COLUMNS.map(function (c) { return csvCell(r[c]); }).join(","));
    });
    download("verdicts-" + stamp() + ".csv", "text/csv;charset=utf-8",
             "\ufeff" + lines.join("\r\n") + "\r\n");
  });
  var jsonButton = document.getElementById("rv-json");
  if (jsonButton) jsonButton.addEventListener("click", function () {
    download("verdicts-" + stamp() + ".json", "application/json",
             JSON.stringify({format: "phrasecheck-verdicts", version: 1,
                             report: document.body.dataset.report || "",
                             exported: new Date().toISOString(), verdicts: exported()},
                            null, 1) + "\n");
  });
  var clearButton = document.getElementById("rv-clear");
  if (clearButton) clearButton.addEventListener("click", function () {
    if (!window.confirm(LABELS.clear)) return;
    store = {};
    save();
    convs.forEach(function (p) {
      p[1].forEach(function (it) { paint(it[0], it[1]); });
      summarize(p[0], p[1]);
    });
    counts();
  });
  window.addEventListener("hashchange", openTarget);
  openTarget();
  document.body.dataset.ready = "1";
})();
