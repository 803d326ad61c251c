(function () {
  "use strict";
  var PAGE = 500;  // rows shown at once: laying out 10k table rows takes seconds
  var coll = new Intl.Collator("zh-CN", {numeric: true});

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
    count.textContent = "显示 " + shown + " / 匹配 " + matched + " / 共 " + n;
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
  window.addEventListener("hashchange", openTarget);
  openTarget();
  document.body.dataset.ready = "1";
})();
