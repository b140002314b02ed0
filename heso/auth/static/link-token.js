// The sign-in and invite links carry their secret in the URL fragment, which is never sent to a
// server (or its logs): copy it into the form, then drop it from the address bar and history.
(function () {
  "use strict";
  var field = document.getElementById("token");
  if (!field) { return; }
  var match = /[#&]token=([^&]+)/.exec(window.location.hash);
  field.value = match ? decodeURIComponent(match[1]) : "";
  if (window.history && history.replaceState) { history.replaceState(null, "", window.location.pathname); }
})();
