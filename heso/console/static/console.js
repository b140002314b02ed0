// The console's only script besides htmx (CSP: script-src 'self', no inline script).
(function () {
  "use strict";
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }
  // Window for other scripts (device keys): the API takes the session cookie with this header.
  window.hesoCsrf = csrf;

  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrf();
  });
  // htmx does not swap error answers: show their text in the alert area.
  document.addEventListener("htmx:responseError", function (event) {
    var alerts = document.getElementById("alerts");
    if (alerts) { alerts.textContent = event.detail.xhr.responseText || ("Error " + event.detail.xhr.status); }
  });
  document.addEventListener("htmx:sendError", function () {
    var alerts = document.getElementById("alerts");
    if (alerts) { alerts.textContent = "The server did not answer; retrying."; }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var alerts = document.getElementById("alerts");
    if (alerts && event.detail.successful) { alerts.textContent = ""; }
  });

  // <time data-countdown datetime="ISO">: "in 4 min" / "overdue", refreshed every second.
  function countdowns() {
    var now = Date.now();
    document.querySelectorAll("time[data-countdown]").forEach(function (node) {
      var left = Math.round((Date.parse(node.getAttribute("datetime")) - now) / 1000);
      var text;
      if (isNaN(left)) { return; }
      if (left <= 0) { text = "due now"; }
      else if (left < 60) { text = "in " + left + " s"; }
      else if (left < 3600) { text = "in " + Math.floor(left / 60) + " min " + (left % 60) + " s"; }
      else if (left < 86400) { text = "in " + Math.floor(left / 3600) + " h " + Math.floor((left % 3600) / 60) + " min"; }
      else { text = "in " + Math.floor(left / 86400) + " d"; }
      node.textContent = text;
    });
  }
  setInterval(countdowns, 1000);
  document.addEventListener("DOMContentLoaded", countdowns);
  document.addEventListener("htmx:afterSwap", countdowns);

  // On a phone, table.stack shows each row as a block: label every cell with its column's header.
  function labelStackedCells() {
    document.querySelectorAll("table.stack").forEach(function (table) {
      var headers = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
        return th.textContent.trim();
      });
      table.querySelectorAll("tbody tr").forEach(function (row) {
        Array.prototype.forEach.call(row.children, function (cell, index) {
          if (headers[index] && !cell.hasAttribute("data-label") && row.children.length === headers.length) {
            cell.setAttribute("data-label", headers[index]);
          }
        });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", labelStackedCells);
  document.addEventListener("htmx:afterSwap", labelStackedCells);

  // <button data-copy="#id">: copy a shown-once secret.
  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!target) { return; }
    var source = document.querySelector(target.getAttribute("data-copy"));
    if (source && navigator.clipboard) { navigator.clipboard.writeText(source.textContent.trim()); target.textContent = "Copied"; }
  });
})();
