// hashchat's pages: times in the visitor's own zone, countdowns, and the
// room kept up to date by server-sent events (never by polling).
// Every fragment the server sends was escaped or sanitised there.
(function () {
  "use strict";

  function visitorTimes() {
    document.querySelectorAll("time.visitor").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      el.textContent = at.toLocaleString(undefined, {
        weekday: "long", day: "numeric", month: "long", hour: "2-digit",
        minute: "2-digit", timeZoneName: "short"
      }) + " (your time)";
    });
  }

  function countdowns() {
    var now = Date.now();
    document.querySelectorAll("time.countdown").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      var left = Math.round((at - now) / 1000);
      var text;
      if (left <= 0) text = "any moment now";
      else if (left < 60) text = "in " + left + " s";
      else if (left < 3600) text = "in " + Math.floor(left / 60) + " min " + (left % 60) + " s";
      else text = "in " + Math.floor(left / 3600) + " h " + Math.floor((left % 3600) / 60) + " min";
      el.textContent = text + " (" + at.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }) + ")";
    });
  }

  function fragment(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    return t.content.firstElementChild;
  }

  function follow(live) {
    var source = new EventSource(live.getAttribute("data-events"));
    source.addEventListener("reset", function (e) {
      live.innerHTML = JSON.parse(e.data).html;
      countdowns();
    });
    source.addEventListener("upsert", function (e) {
      var d = JSON.parse(e.data);
      var node = fragment(d.html);
      if (!node) return;
      var old = document.getElementById(d.id);
      if (old) {
        old.replaceWith(node);
      } else {
        var parent = document.getElementById(d.parent);
        if (!parent) return;
        parent.appendChild(node);
      }
      countdowns();
    });
    source.addEventListener("remove", function (e) {
      var old = document.getElementById(JSON.parse(e.data).id);
      if (old) old.remove();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    visitorTimes();
    countdowns();
    // A ticking display, not a request: the server pushes every change.
    setInterval(countdowns, 1000);
    var live = document.getElementById("live");
    if (live) follow(live);
  });
})();
