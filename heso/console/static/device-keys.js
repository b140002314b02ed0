// Device keys (Device keys and approval pages): an Ed25519 key pair made here with WebCrypto,
// the private key non-extractable in IndexedDB; approvals signed here, never on the server.
// The signed bytes: "heso.approval/1\0" + RFC 8785 canonical JSON of
// {approval_id, action_hash, outcome, expires_at} (heso/receipts/format.py); token = hex(signature).
(function () {
  "use strict";
  var DB = "heso-device-keys";
  var STORE = "keys";  // records {publicKey (hex, the key path), keyId, member, team, privateKey, createdAt}
  var PREFIX = "heso.approval/1\u0000";

  function status(text, isError) {
    var node = document.getElementById("device-key-status");
    if (!node) { return; }
    node.textContent = text;
    node.className = isError ? "error" : "muted";
  }

  function supported() {
    return !!(window.crypto && window.crypto.subtle && window.indexedDB);
  }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (byte) {
      return ("0" + byte.toString(16)).slice(-2);
    }).join("");
  }

  // RFC 8785: object keys sorted by UTF-16 code units, ES6 number and string forms (JSON.stringify's).
  function canonical(value) {
    if (Array.isArray(value)) { return "[" + value.map(canonical).join(",") + "]"; }
    if (value !== null && typeof value === "object") {
      return "{" + Object.keys(value).sort().map(function (key) {
        return JSON.stringify(key) + ":" + canonical(value[key]);
      }).join(",") + "}";
    }
    return JSON.stringify(value);
  }

  function request(idb) {
    return new Promise(function (resolve, reject) {
      idb.onsuccess = function () { resolve(idb.result); };
      idb.onerror = function () { reject(idb.error); };
    });
  }

  function open() {
    var opening = indexedDB.open(DB, 1);
    opening.onupgradeneeded = function () { opening.result.createObjectStore(STORE, {keyPath: "publicKey"}); };
    return request(opening);
  }

  function transact(mode, work) {
    return open().then(function (db) {
      var tx = db.transaction(STORE, mode);
      var result = request(work(tx.objectStore(STORE)));
      return new Promise(function (resolve, reject) {
        tx.oncomplete = function () { db.close(); resolve(result); };
        tx.onerror = tx.onabort = function () { db.close(); reject(tx.error); };
      });
    });
  }

  // The records of this member of this team (one browser may hold several members' keys).
  function mine(section) {
    return transact("readonly", function (store) { return store.getAll(); }).then(function (all) {
      return all.filter(function (record) {
        return record.member === section.dataset.member && record.team === section.dataset.team;
      });
    });
  }

  function errorText(response) {
    return response.text().then(function (text) {
      try { return JSON.parse(text).message || text; } catch (ignored) {
        return "The server refused (" + response.status + "). Reload the page and try again.";
      }
    });
  }

  // --- Device keys page -------------------------------------------------------------------
  function keysPage(section) {
    var button = document.getElementById("create-device-key");
    if (!supported()) {
      status("This browser cannot keep a device key (WebCrypto or IndexedDB is missing, or the page is not served over HTTPS).", true);
      return;
    }
    var rows = Array.prototype.slice.call(section.querySelectorAll("tr[data-public-key]"));
    mine(section).then(function (records) {
      var here = null;
      records.forEach(function (record) {
        var row = rows.filter(function (r) { return r.dataset.publicKey === record.publicKey; })[0];
        if (!row || row.hasAttribute("data-revoked")) {
          // Revoked or gone: its private half is of no use any more, forget it.
          transact("readwrite", function (store) { return store.delete(record.publicKey); })
            .catch(function (error) { status("The revoked key could not be deleted here: " + error, true); });
          if (row) { row.querySelector("[data-device-cell]").textContent = "this device (forgotten: revoked)"; }
          return;
        }
        here = row;
        var cell = row.querySelector("[data-device-cell]");
        cell.textContent = "";
        var badge = document.createElement("strong");
        badge.className = "badge approved";
        badge.textContent = "This device";
        cell.appendChild(badge);
      });
      status(here ? "This browser holds your device key " + here.dataset.keyId + "."
                  : "This browser holds no device key of yours yet.");
      button.disabled = false;
    }).catch(function (error) { status("The browser's key store could not be read: " + error, true); });

    button.addEventListener("click", function () {
      button.disabled = true;
      status("Creating a key pair on this device…");
      var pair;
      var publicKey;
      crypto.subtle.generateKey({name: "Ed25519"}, false, ["sign", "verify"]).then(function (made) {
        pair = made;
        return crypto.subtle.exportKey("raw", pair.publicKey);
      }).then(function (raw) {
        publicKey = hex(raw);
        return fetch(section.dataset.registerUrl, {
          method: "POST", credentials: "same-origin",
          headers: {"Content-Type": "application/json", "X-CSRF-Token": window.hesoCsrf()},
          body: JSON.stringify({publicKey: publicKey})
        });
      }).then(function (response) {
        if (!response.ok) { return errorText(response).then(function (text) { throw new Error(text); }); }
        return response.json();
      }).then(function (registered) {
        return transact("readwrite", function (store) {
          return store.put({publicKey: publicKey, keyId: registered.keyId, member: section.dataset.member,
                            team: section.dataset.team, privateKey: pair.privateKey,
                            createdAt: new Date().toISOString()});
        }).then(function () { return registered; });
      }).then(function (registered) {
        status("Registered " + registered.keyId + " for this device.");
        window.location.reload();
      }).catch(function (error) {
        button.disabled = false;
        if (error && error.name === "NotSupportedError") {
          status("This browser has no Ed25519 in WebCrypto: use a current Chromium, Firefox or Safari.", true);
        } else {
          status("No key was registered: " + (error && error.message ? error.message : error), true);
        }
      });
    });
  }

  // --- An approval's page -----------------------------------------------------------------
  function approvalPage(section) {
    var buttons = Array.prototype.slice.call(section.querySelectorAll("button[data-outcome]"));
    if (!supported()) {
      status("This browser cannot sign with a device key (WebCrypto or IndexedDB is missing, or the page is not served over HTTPS).", true);
      return;
    }
    var signers = JSON.parse(section.dataset.signers || "[]");
    mine(section).then(function (records) {
      var record = records.filter(function (r) {
        return signers.some(function (s) { return s.publicKey === r.publicKey; });
      })[0];
      if (!record) {
        status("No device key on this browser may answer this approval. Your registered keys are on other " +
               "devices: answer there, or create a key on this browser under Device keys.", true);
        return;
      }
      var signer = signers.filter(function (s) { return s.publicKey === record.publicKey; })[0];
      status("This browser signs with your device key " + signer.keyId + ".");
      buttons.forEach(function (button) {
        button.disabled = false;
        button.addEventListener("click", function () { answer(section, record, signer, button, buttons); });
      });
    }).catch(function (error) { status("The browser's key store could not be read: " + error, true); });
  }

  function answer(section, record, signer, button, buttons) {
    var outcome = button.dataset.outcome;
    buttons.forEach(function (b) { b.disabled = true; });
    status(outcome === "approved" ? "Signing the approval on this device…" : "Signing the denial on this device…");
    var statement = {approval_id: section.dataset.approvalId, action_hash: section.dataset.actionHash,
                     outcome: outcome, expires_at: section.dataset.expiresAt};
    var message = new TextEncoder().encode(PREFIX + canonical(statement));
    crypto.subtle.sign({name: "Ed25519"}, record.privateKey, message).then(function (signature) {
      return fetch(section.dataset.tokenUrl, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": window.hesoCsrf()},
        body: JSON.stringify({token: hex(signature), outcome: outcome, keyId: signer.keyId})
      });
    }).then(function (response) {
      if (!response.ok) { return errorText(response).then(function (text) { throw new Error(text); }); }
      status(outcome === "approved" ? "Approved." : "Denied.");
      window.location.reload();
    }).catch(function (error) {
      buttons.forEach(function (b) { b.disabled = false; });
      status("Not settled: " + (error && error.message ? error.message : error), true);
    });
  }

  function start() {
    var keys = document.getElementById("device-keys");
    if (keys) { keysPage(keys); }
    var approval = document.getElementById("device-approval");
    if (approval) { approvalPage(approval); }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
