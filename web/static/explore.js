// lookout: the metrics explorer. It draws the query of the page's chart
// container (data-query, data-start, data-end, data-step) with uPlot from
// /api/v1/query_range, shows exemplars from /api/v1/query_exemplars as
// diamonds that open their trace, zooms by dragging (the URL's from and
// to follow), and completes metric names, label names and label values in
// the query input. The page works without it: the server renders the
// table. Nothing here runs inline or evaluates strings (see the CSP).
"use strict";
(function () {
  var POINTS = 250; // about this many points per series, as the server's step
  var MAX_EXEMPLARS = 500; // diamonds drawn
  var MAX_EXEMPLAR_LINKS = 50; // links listed under the chart
  var MAX_SUGGESTIONS = 50;
  var HEIGHT = 320;
  var TRACE_ID = /^[0-9a-f]{32}$/i;

  function byTestID(id, root) {
    return (root || document).querySelector('[data-testid="' + id + '"]');
  }

  // api fetches a Prometheus API path with the session cookie and resolves
  // to the response's data, or rejects with the API's own error text
  // (err.status is the HTTP status).
  function api(path, params, signal) {
    var url = path + "?" + params.toString();
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, signal: signal })
      .then(function (resp) {
        return resp.text().then(function (text) {
          var body = null;
          try {
            body = JSON.parse(text);
          } catch (e) {
            body = null;
          }
          if (!resp.ok || !body || body.status !== "success") {
            var msg = body && typeof body.error === "string" ? body.error : "HTTP " + resp.status + " from " + path;
            var err = new Error(msg);
            err.status = resp.status;
            throw err;
          }
          return body;
        });
      });
  }

  // seriesName is a series as PromQL writes it: name{label="value", ...}.
  function seriesName(metric) {
    var parts = Object.keys(metric || {}).filter(function (k) { return k !== "__name__"; }).sort()
      .map(function (k) { return k + "=" + JSON.stringify(metric[k]); });
    return (metric && metric.__name__ ? metric.__name__ : "") + "{" + parts.join(", ") + "}";
  }

  // fmtTime writes a time in UTC, as the range picker and the table do.
  function fmtTime(sec) {
    return new Date(sec * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  // minuteField is a time as a datetime-local field in UTC holds it.
  function minuteField(sec) {
    return new Date(sec * 1000).toISOString().slice(0, 16);
  }

  // ---- the chart ----

  function initChart(el) {
    var status = byTestID("chart-status");
    var errorBox = byTestID("chart-error");
    var reset = byTestID("zoom-reset");
    var exBox = byTestID("exemplars");
    var form = document.querySelector("form.explore-form");
    var query = el.dataset.query;
    var maxSeries = parseInt(el.dataset.maxSeries, 10) || 200;
    var initial = { start: Number(el.dataset.start), end: Number(el.dataset.end), step: Number(el.dataset.step) };
    var plot = null;
    var last = null; // what was drawn last: {frame, exemplars}
    var hidden = {}; // series labels hidden from the legend; kept over zooms
    var pending = null; // the AbortController of the data being fetched

    function say(msg) {
      status.textContent = msg || "";
    }
    function clear() {
      if (plot) plot.destroy();
      plot = null;
      exBox.hidden = true;
    }
    function fail(msg) {
      clear();
      say("");
      errorBox.textContent = msg;
      errorBox.hidden = false;
      el.dataset.ready = "error";
    }

    if (typeof window.uPlot !== "function") {
      fail("The chart library did not load; the Table tab shows the values.");
      return;
    }

    // load fetches the query's range and exemplars and draws them.
    function load(start, end, step) {
      if (pending) pending.abort();
      var ctrl = new AbortController();
      pending = ctrl;
      step = step > 0 ? step : Math.max(1, Math.round((end - start) / POINTS));
      el.dataset.ready = "false";
      el.dataset.start = String(start);
      el.dataset.end = String(end);
      el.dataset.step = String(step);
      errorBox.hidden = true;
      say("Loading…");
      var p = new URLSearchParams({ query: query, start: String(start), end: String(end), step: String(step), limit: String(maxSeries + 1) });
      var e = new URLSearchParams({ query: query, start: String(start), end: String(end) });
      var exemplars = api("/api/v1/query_exemplars", e, ctrl.signal).then(function (body) {
        return { list: body.data || [] };
      }, function (err) {
        if (err.name === "AbortError") throw err;
        // 404: exemplars are not configured; anything else is worth a word.
        return { list: [], error: err.status === 404 ? "" : err.message };
      });
      Promise.all([api("/api/v1/query_range", p, ctrl.signal), exemplars]).then(function (res) {
        if (pending !== ctrl) return;
        pending = null;
        var frame = toFrame(res[0].data, start, end, step, maxSeries);
        var ex = toExemplars(res[1].list);
        last = { frame: frame, exemplars: ex };
        var notes = [];
        if (frame.cut) notes.push("The query gave more than " + maxSeries + " series: only the first " + maxSeries + " are drawn. Narrow it, e.g. with topk().");
        if (frame.histograms) notes.push(frame.histograms + " native histogram series are not drawn (the table shows them).");
        if (ex.cut) notes.push("Only the newest " + MAX_EXEMPLARS + " exemplars are drawn.");
        if (res[1].error) notes.push("Exemplars: " + res[1].error);
        (res[0].warnings || []).forEach(function (w) {
          if (!/truncated due to limit/.test(w)) notes.push(w); // said above
        });
        if (frame.names.length === 0) {
          clear();
          notes.unshift("No data in this range.");
          say(notes.join(" "));
          el.dataset.ready = "empty";
          return;
        }
        say(notes.join(" "));
        draw();
      }).catch(function (err) {
        if (err.name === "AbortError" || pending !== ctrl) return;
        pending = null;
        fail(err.message);
      });
    }

    // draw (re)builds the plot from the last data, in the theme's colours.
    function draw() {
      if (!last) return;
      if (plot) plot.destroy();
      var th = theme(el);
      var frame = last.frame;
      var ex = last.exemplars;
      var anchors = ex.list.map(exemplarAnchor);
      var drawn = false;
      var series = [{ value: function (u, v) { return v == null ? "" : fmtTime(v); } }];
      frame.names.forEach(function (name, i) {
        series.push({
          label: name,
          stroke: th.palette[i % th.palette.length],
          width: 1.5,
          show: !hidden[name],
          spanGaps: false
        });
      });
      var axis = { stroke: th.muted, grid: { stroke: th.line, width: 1 }, ticks: { stroke: th.line, width: 1 } };
      var opts = {
        width: Math.max(el.clientWidth, 200),
        height: HEIGHT,
        // The axis in UTC, as the range picker and the table.
        tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
        series: series,
        axes: [axis, Object.assign({ size: 64 }, axis)],
        scales: {
          x: { time: true },
          y: {
            range: function (u, lo, hi) {
              if (ex.min != null) {
                lo = lo == null ? ex.min : Math.min(lo, ex.min);
                hi = hi == null ? ex.max : Math.max(hi, ex.max);
              }
              if (lo == null || hi == null) return [0, 1];
              return window.uPlot.rangeNum(lo, hi, 0.1, true);
            }
          }
        },
        cursor: { drag: { x: true, y: false, setScale: false } },
        legend: { live: true },
        hooks: {
          ready: [function (u) {
            anchors.forEach(function (a) { u.over.appendChild(a); });
          }],
          draw: [function (u) {
            placeExemplars(u, ex.list, anchors);
            if (!drawn) {
              drawn = true;
              el.dataset.ready = "true";
            }
          }],
          setSelect: [zoomFromSelection],
          setSeries: [function (u, i, o) {
            if (i != null && o && o.show != null) hidden[u.series[i].label] = !o.show;
          }]
        }
      };
      el.textContent = "";
      plot = new window.uPlot(opts, frame.data, el);
      listExemplars(ex);
    }

    function zoomFromSelection(u) {
      var sel = u.select;
      if (!sel || sel.width < 3) return;
      var a = Math.floor(u.posToVal(sel.left, "x"));
      var b = Math.ceil(u.posToVal(sel.left + sel.width, "x"));
      u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      if (!(b > a)) return;
      setRange(String(a), String(b));
      reset.hidden = false;
      load(a, b, 0);
    }

    // The page's own range, which Reset zoom goes back to: the URL, the
    // tabs' links and the form's range fields as the server wrote them.
    var links = Array.prototype.slice.call(document.querySelectorAll("a[data-range-link]"));
    var fields = form ? Array.prototype.filter.call(form.elements, function (f) {
      return f.name === "range" || f.name === "from" || f.name === "to";
    }) : [];
    var saved = {
      href: window.location.href,
      links: links.map(function (a) { return a.getAttribute("href"); }),
      fields: fields.map(function (f) { return f.value; })
    };

    reset.addEventListener("click", function () {
      window.history.replaceState(null, "", saved.href);
      links.forEach(function (a, i) { a.setAttribute("href", saved.links[i]); });
      fields.forEach(function (f, i) { f.value = saved.fields[i]; });
      reset.hidden = true;
      load(initial.start, initial.end, initial.step);
    });

    // setRange puts an absolute range (Unix seconds) in the URL, replacing
    // this history entry, in the tabs' links and in the form, so that what
    // is shared or run next is what is shown.
    function setRange(from, to) {
      function absolute(href) {
        var u = new URL(href, window.location.href);
        u.searchParams.delete("range");
        u.searchParams.set("from", from);
        u.searchParams.set("to", to);
        return u.pathname + u.search + u.hash;
      }
      window.history.replaceState(null, "", absolute(window.location.href));
      links.forEach(function (a) { a.setAttribute("href", absolute(a.getAttribute("href"))); });
      // The form's fields take whole minutes (UTC): the zoomed range, widened
      // to them.
      fields.forEach(function (f) {
        if (f.name === "range") f.value = "";
        else if (f.name === "from") f.value = minuteField(Math.floor(Number(from) / 60) * 60);
        else if (f.name === "to") f.value = minuteField(Math.ceil(Number(to) / 60) * 60);
      });
    }

    function exemplarAnchor(e) {
      var a = document.createElement("a");
      a.className = "exemplar";
      a.href = "/traces/" + encodeURIComponent(e.traceID);
      a.hidden = true;
      a.setAttribute("data-testid", "exemplar-point");
      a.setAttribute("data-trace-id", e.traceID);
      a.title = "Trace " + e.traceID + "\nvalue " + e.value + " at " + fmtTime(e.t) + "\n" + e.series;
      a.setAttribute("aria-label", "Exemplar: trace " + e.traceID);
      a.tabIndex = -1; // the keyboard has the list under the chart instead
      // A press on a diamond is a click on a link, not the start of a zoom.
      a.addEventListener("mousedown", function (ev) { ev.stopPropagation(); });
      return a;
    }

    function listExemplars(ex) {
      var ul = exBox.querySelector("ul");
      ul.textContent = "";
      if (ex.list.length === 0) {
        exBox.hidden = true;
        return;
      }
      var newest = ex.list.slice(-MAX_EXEMPLAR_LINKS).reverse();
      newest.forEach(function (e) {
        var li = document.createElement("li");
        var a = document.createElement("a");
        a.href = "/traces/" + encodeURIComponent(e.traceID);
        a.textContent = e.traceID;
        a.setAttribute("data-testid", "exemplar-link");
        li.appendChild(a);
        li.appendChild(document.createTextNode(" " + e.value + " at " + fmtTime(e.t) + " · " + e.series));
        ul.appendChild(li);
      });
      exBox.querySelector("summary").textContent = "Exemplars: " + ex.list.length +
        (ex.list.length > newest.length ? " (the newest " + newest.length + " listed)" : "");
      exBox.hidden = false;
    }

    var resizing = 0;
    window.addEventListener("resize", function () {
      window.cancelAnimationFrame(resizing);
      resizing = window.requestAnimationFrame(function () {
        if (plot) plot.setSize({ width: Math.max(el.clientWidth, 200), height: HEIGHT });
      });
    });
    if (window.matchMedia) {
      var scheme = window.matchMedia("(prefers-color-scheme: dark)");
      if (scheme.addEventListener) scheme.addEventListener("change", function () { if (plot) draw(); });
    }

    load(initial.start, initial.end, initial.step);
  }

  // toFrame turns a query_range answer into uPlot's columns: the step
  // times, then one column per series with null where it has no sample.
  function toFrame(data, start, end, step, maxSeries) {
    var n = Math.floor((end - start) / step + 1e-9) + 1;
    var xs = new Array(n);
    for (var i = 0; i < n; i++) xs[i] = start + i * step;
    var out = { data: [xs], names: [], cut: false, histograms: 0 };
    var result = data && Array.isArray(data.result) ? data.result : [];
    if (result.length > maxSeries) {
      out.cut = true;
      result = result.slice(0, maxSeries);
    }
    result.forEach(function (s) {
      if (!Array.isArray(s.values)) {
        if (s.histograms) out.histograms++;
        return;
      }
      var ys = new Array(n).fill(null);
      s.values.forEach(function (p) {
        var j = Math.round((p[0] - start) / step);
        var v = Number(p[1]); // "+Inf", "-Inf" and "NaN" are not drawn
        if (j >= 0 && j < n && isFinite(v)) ys[j] = v;
      });
      out.data.push(ys);
      out.names.push(seriesName(s.metric));
    });
    return out;
  }

  // toExemplars flattens a query_exemplars answer to those that name a
  // trace, oldest first, at most MAX_EXEMPLARS (the newest), with the
  // range of their values.
  function toExemplars(sets) {
    var list = [];
    (sets || []).forEach(function (set) {
      var series = seriesName(set.seriesLabels);
      (set.exemplars || []).forEach(function (e) {
        var l = e.labels || {};
        var id = l.trace_id || l.traceID || l.traceId || "";
        var v = Number(e.value);
        if (!TRACE_ID.test(id) || !isFinite(v) || !isFinite(e.timestamp)) return;
        list.push({ traceID: id.toLowerCase(), t: Number(e.timestamp), v: v, value: e.value, series: series });
      });
    });
    list.sort(function (a, b) { return a.t - b.t; });
    var cut = list.length > MAX_EXEMPLARS;
    if (cut) list = list.slice(-MAX_EXEMPLARS);
    var min = null;
    var max = null;
    list.forEach(function (e) {
      min = min == null ? e.v : Math.min(min, e.v);
      max = max == null ? e.v : Math.max(max, e.v);
    });
    return { list: list, cut: cut, min: min, max: max };
  }

  // placeExemplars moves each diamond to its time and value; those outside
  // the plot are hidden.
  function placeExemplars(u, list, anchors) {
    var w = u.over.clientWidth;
    var h = u.over.clientHeight;
    list.forEach(function (e, i) {
      var x = u.valToPos(e.t, "x");
      var y = u.valToPos(e.v, "y");
      var a = anchors[i];
      var inside = isFinite(x) && isFinite(y) && x >= 0 && x <= w && y >= 0 && y <= h;
      a.hidden = !inside;
      if (inside) {
        a.style.left = x + "px";
        a.style.top = y + "px";
      }
    });
  }

  // theme reads the page's colours from its CSS variables, so the chart
  // follows the light or dark theme.
  function theme(el) {
    var cs = window.getComputedStyle(el);
    function v(name, def) {
      var s = cs.getPropertyValue(name).trim();
      return s || def;
    }
    var palette = [];
    for (var i = 0; i < 10; i++) {
      var c = v("--series-" + i, "");
      if (c) palette.push(c);
    }
    if (palette.length === 0) palette.push(v("--accent", "#2459d6"));
    return { muted: v("--muted", "#5f6773"), line: v("--line", "#dde1e6"), palette: palette };
  }

  // ---- completion ----

  var IDENT = /[a-zA-Z_:][a-zA-Z0-9_:]*$/;

  // completionContext says what the text before the cursor is in the
  // middle of: a metric name, a label name inside {...}, or a label value
  // inside quotes after name=; null when none of those.
  function completionContext(text) {
    var brace = -1;
    var bracket = false;
    var quote = "";
    for (var i = 0; i < text.length; i++) {
      var c = text[i];
      if (quote) {
        if (c === "\\" && quote !== "`") i++;
        else if (c === quote) quote = "";
        continue;
      }
      if (c === '"' || c === "'" || c === "`") quote = c;
      else if (c === "{") brace = i;
      else if (c === "}") brace = -1;
      else if (c === "[") bracket = true;
      else if (c === "]") bracket = false;
    }
    if (brace < 0) {
      if (quote || bracket) return null;
      var m = IDENT.exec(text);
      if (!m || /[0-9.]$/.test(text.slice(0, m.index))) return null;
      return { kind: "metric", prefix: m[0], at: m.index };
    }
    var before = text.slice(0, brace);
    var metric = IDENT.exec(before);
    metric = metric ? metric[0] : "";
    var inner = text.slice(brace + 1);
    if (quote) {
      var v = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*["'`]([^"'`\\]*)$/.exec(inner);
      if (!v) return null;
      return { kind: "value", metric: metric, label: v[1], prefix: v[2], at: text.length - v[2].length, quote: quote };
    }
    var l = /(?:^|,)\s*([a-zA-Z_][a-zA-Z0-9_]*)?$/.exec(inner);
    if (!l) return null;
    var p = l[1] || "";
    return { kind: "label", metric: metric, prefix: p, at: text.length - p.length };
  }

  function initCompletion(input, datalist, chart) {
    var names = Array.prototype.map.call(datalist.options, function (o) { return o.value; });
    // The script's own list replaces the datalist, which only matches the
    // whole input.
    input.removeAttribute("list");
    var box = document.createElement("ul");
    box.id = "query-suggestions";
    box.className = "suggest";
    box.hidden = true;
    box.setAttribute("role", "listbox");
    box.setAttribute("data-testid", "suggestions");
    input.insertAdjacentElement("afterend", box);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", box.id);
    input.setAttribute("aria-expanded", "false");

    var cache = {}; // URL -> promise of a list of strings
    var items = [];
    var active = -1;
    var ctx = null;
    var seq = 0;
    var timer = 0;
    var accepted = false; // an Enter just chose a suggestion

    function hide() {
      box.hidden = true;
      items = [];
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function show(list) {
      box.textContent = "";
      items = list;
      active = -1;
      if (list.length === 0) {
        hide();
        return;
      }
      list.forEach(function (s, i) {
        var li = document.createElement("li");
        li.id = "query-suggestion-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.textContent = s;
        box.appendChild(li);
      });
      box.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }

    function highlight(i) {
      var lis = box.children;
      if (active >= 0 && lis[active]) lis[active].setAttribute("aria-selected", "false");
      active = i;
      if (active >= 0 && lis[active]) {
        lis[active].setAttribute("aria-selected", "true");
        lis[active].scrollIntoView({ block: "nearest" });
        input.setAttribute("aria-activedescendant", lis[active].id);
      }
    }

    // lookup answers the label names or values the API knows for the
    // metric before the brace, over the range shown (the form's, or the
    // chart's once zoomed).
    function lookup(c) {
      var p = new URLSearchParams({ limit: "1000" });
      var r = chart || input.form;
      if (r && r.dataset.start && r.dataset.end) {
        p.set("start", r.dataset.start);
        p.set("end", r.dataset.end);
      }
      if (c.metric) p.append("match[]", c.metric);
      var path = c.kind === "label" ? "/api/v1/labels" : "/api/v1/label/" + encodeURIComponent(c.label) + "/values";
      var key = path + "?" + p.toString();
      if (!cache[key]) {
        cache[key] = api(path, p).then(function (body) {
          return Array.isArray(body.data) ? body.data : [];
        });
        cache[key].catch(function () { delete cache[key]; });
      }
      return cache[key];
    }

    function matches(list, prefix) {
      var lower = prefix.toLowerCase();
      var starts = [];
      var contains = [];
      for (var i = 0; i < list.length && starts.length < MAX_SUGGESTIONS; i++) {
        var s = list[i];
        var at = s.toLowerCase().indexOf(lower);
        if (at === 0) starts.push(s);
        else if (at > 0 && contains.length < MAX_SUGGESTIONS) contains.push(s);
      }
      var out = starts.concat(contains).slice(0, MAX_SUGGESTIONS);
      // Nothing to offer when the only choice is what is typed.
      return out.length === 1 && out[0] === prefix ? [] : out;
    }

    function update() {
      var my = ++seq;
      var pos = input.selectionStart;
      if (pos == null || pos !== input.selectionEnd) {
        hide();
        return;
      }
      var c = completionContext(input.value.slice(0, pos));
      ctx = c;
      if (!c || (c.kind === "metric" && c.prefix.length === 0)) {
        hide();
        return;
      }
      if (c.kind === "metric") {
        show(matches(names, c.prefix));
        return;
      }
      lookup(c).then(function (list) {
        if (my !== seq) return;
        if (c.kind === "label") list = list.filter(function (s) { return s !== "__name__"; });
        show(matches(list, c.prefix));
      }, function () {
        if (my === seq) hide();
      });
    }

    function accept(i) {
      var s = items[i];
      var c = ctx;
      if (s == null || !c) return;
      var pos = input.selectionStart;
      var text = input.value;
      var insert = s;
      if (c.kind === "value") {
        if (c.quote !== "`") insert = s.replace(/\\/g, "\\\\").split(c.quote).join("\\" + c.quote);
        if (text.charAt(pos) !== c.quote) insert += c.quote;
        else pos++; // step over the closing quote already there
      }
      var rest = text.slice(pos);
      if (c.kind !== "value") rest = rest.replace(/^[a-zA-Z0-9_:]*/, ""); // the rest of the word replaced
      input.value = text.slice(0, c.at) + insert + rest;
      var caret = c.at + insert.length;
      input.setSelectionRange(caret, caret);
      input.focus();
      hide();
    }

    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(update, 120);
    });
    input.addEventListener("keydown", function (e) {
      if (box.hidden) return;
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        var n = items.length;
        highlight(e.key === "ArrowDown" ? (active + 1) % n : (active - 1 + n) % n);
      } else if ((e.key === "Enter" || e.key === "Tab") && active >= 0) {
        e.preventDefault();
        accept(active);
        if (e.key === "Enter") {
          // This Enter chose a suggestion; it must not also submit the form.
          accepted = true;
          window.setTimeout(function () { accepted = false; }, 0);
        }
      } else if (e.key === "Escape") {
        e.preventDefault();
        hide();
      }
    });
    input.addEventListener("blur", hide);
    if (input.form) {
      input.form.addEventListener("submit", function (e) {
        if (accepted) e.preventDefault();
      });
    }
    // Keep the focus in the input while a suggestion is clicked.
    box.addEventListener("mousedown", function (e) { e.preventDefault(); });
    box.addEventListener("click", function (e) {
      var li = e.target.closest("li");
      if (li) accept(Array.prototype.indexOf.call(box.children, li));
    });
  }

  function start() {
    var chart = byTestID("chart");
    var input = byTestID("query");
    var datalist = document.getElementById("metric-names");
    if (input && datalist) initCompletion(input, datalist, chart);
    if (chart) initChart(chart);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
