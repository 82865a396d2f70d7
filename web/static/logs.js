// lookout: the logs explorer's live tail. Without this script the page
// works for reading and the Live controls stay hidden.
//
// Live opens an EventSource on the controls' data-tail-url; each "row"
// event is a server-rendered <tr> put on top of the table, and its id the
// newest timestamp received, kept in data-since so that Resume (and a
// Live after a Pause) starts from there. "notice" events are shown beside
// the controls; "end" means the server stopped the tail.
"use strict";
(function () {
  var MAX_ROWS = 1000; // rows kept in the table while tailing
  var live = null; // {es, box} while a tail is open
  var wanted = false; // Live is on (open, or paused)
  var paused = false;

  function box() { return document.querySelector("[data-live]"); }
  function part(b, sel) { return b.querySelector(sel); }

  function say(b, text) {
    var s = part(b, "[data-live-status]");
    if (s) { s.textContent = text; }
  }

  function render(b) {
    var toggle = part(b, "[data-live-toggle]");
    var pause = part(b, "[data-live-pause]");
    toggle.setAttribute("aria-pressed", wanted ? "true" : "false");
    pause.hidden = !wanted;
    pause.textContent = live ? "Pause" : "Resume";
  }

  function url(b) {
    var u = b.getAttribute("data-tail-url");
    var since = b.getAttribute("data-since");
    if (since) {
      u += (u.indexOf("?") < 0 ? "?" : "&") + "since=" + encodeURIComponent(since);
    }
    return u;
  }

  function prepend(html) {
    var rows = document.querySelector("[data-log-rows]");
    if (!rows) { return; }
    var empty = rows.querySelector("[data-empty]");
    if (empty) { empty.remove(); }
    var t = document.createElement("template");
    t.innerHTML = html;
    rows.insertBefore(t.content, rows.firstChild);
    while (rows.rows.length > MAX_ROWS) { rows.deleteRow(-1); }
  }

  function close() {
    if (live) {
      live.es.close();
      live = null;
    }
  }

  function open(b) {
    close();
    var es = new EventSource(url(b));
    live = { es: es, box: b };
    say(b, "connecting…");
    es.addEventListener("open", function () { say(b, "live"); });
    es.addEventListener("row", function (e) {
      prepend(e.data);
      if (e.lastEventId) { b.setAttribute("data-since", e.lastEventId); }
    });
    es.addEventListener("notice", function (e) { say(b, e.data); });
    es.addEventListener("end", function (e) {
      close();
      paused = true;
      render(b);
      say(b, e.data);
    });
    es.addEventListener("error", function () {
      if (es.readyState === EventSource.CLOSED) {
        // Refused (too many live tails, a bad query, signed out): the
        // browser does not retry.
        if (live && live.es === es) { live = null; }
        paused = true;
        render(b);
        say(b, "The live tail was refused: too many are open, the query is invalid, or the session ended. Try again later.");
      } else {
        say(b, "reconnecting…");
      }
    });
    render(b);
  }

  function setup() {
    var b = box();
    if (!b) { return; }
    b.hidden = false;
    if (live && live.box === b) { return; }
    if (wanted && !paused) { open(b); } else { render(b); }
  }

  document.addEventListener("click", function (e) {
    var b = box();
    if (!b || !e.target.closest) { return; }
    if (e.target.closest("[data-live-toggle]")) {
      wanted = !wanted;
      paused = false;
      if (wanted) { open(b); } else { close(); say(b, ""); render(b); }
    } else if (e.target.closest("[data-live-pause]")) {
      paused = !!live;
      if (live) { close(); say(b, "paused"); render(b); } else { open(b); }
    }
  });

  // A new search swaps the results, controls included: the old tail ends
  // and, if Live was on, one for the new query starts.
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (live && e.detail.target && e.detail.target.contains(live.box)) { close(); }
  });
  document.addEventListener("htmx:afterSettle", setup);
  window.addEventListener("pagehide", close);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
