// IntegraMon progressive enhancement. Every page works without this script; it adds
// confirmations, local times, the inline connection test and auto-refresh.
(function () {
  "use strict";

  // Forms that change something important ask first.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var msg = form.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) {
      ev.preventDefault();
      return;
    }
    // The monitor's filters: empty fields stay out of the address (a short URL to share, and
    // an empty from/to is visibly a live range).
    if (form.id === "filters") {
      Array.prototype.forEach.call(form.elements, function (el) {
        if (el.name && el.value === "") { el.disabled = true; }
      });
    }
  });

  // Times are rendered by the server in one zone, named in the header (#time-zone): the
  // account's, else the browser's as this script reports it in a cookie, else UTC. Without an
  // account setting, a browser in another zone sends its own and reloads once.
  function timeZone() {
    var el = document.getElementById("time-zone");
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return; }
    if (!el || !zone || !/^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone)) { return; }
    var path = (document.body.getAttribute("data-base") || "") + "/";
    document.cookie = "im_tz=" + zone + "; path=" + path + "; max-age=31536000; SameSite=Lax";
    if (el.getAttribute("data-source") !== "account" && el.getAttribute("data-zone") !== zone) {
      var key = "integramon.tzreload";
      if (window.sessionStorage.getItem(key) !== zone) {
        window.sessionStorage.setItem(key, zone);
        window.location.reload();
      }
    }
  }

  // The tenant form's "Test connection" runs without leaving the page (and without sending
  // the form's secret anywhere but this site).
  function connectionTest() {
    document.querySelectorAll("button[data-conntest]").forEach(function (btn) {
      btn.addEventListener("click", function (ev) {
        var form = btn.form;
        var target = document.getElementById("conn-results");
        if (!form || !target || !window.fetch) { return; }
        ev.preventDefault();
        var data = new FormData(form);
        data.set("action", "test");
        target.textContent = "Testing the connection…";
        btn.disabled = true;
        fetch(btn.getAttribute("data-conntest"), {
          method: "POST",
          body: new URLSearchParams(data),
          headers: { "X-Requested-With": "fetch" },
          credentials: "same-origin"
        }).then(function (r) { return r.text(); })
          .then(function (html) { target.innerHTML = html; })
          .catch(function (e) { target.textContent = "The test could not run: " + e; })
          .finally(function () { btn.disabled = false; });
      });
    });
  }

  // Lists with data-refresh reload themselves while the box is ticked.
  function autoRefresh() {
    var box = document.getElementById("auto-refresh");
    if (!box) { return; }
    var key = "integramon.autorefresh";
    box.checked = window.localStorage.getItem(key) === "1";
    var timer = null;
    function arm() {
      if (timer) { clearTimeout(timer); timer = null; }
      if (box.checked) { timer = setTimeout(function () { window.location.reload(); }, 30000); }
    }
    box.addEventListener("change", function () {
      window.localStorage.setItem(key, box.checked ? "1" : "0");
      arm();
    });
    arm();
  }

  // Auth kind switches which credential fields apply.
  function authFields() {
    var sel = document.querySelector("select[name=auth_kind]");
    if (!sel) { return; }
    function apply() {
      document.querySelectorAll("[data-auth]").forEach(function (el) {
        el.hidden = el.getAttribute("data-auth") !== sel.value;
      });
    }
    sel.addEventListener("change", apply);
    apply();
  }

  // The back button after signing out must not show a signed-in page from the browser's
  // back/forward cache: a page restored from it asks the server again (which answers with the
  // sign-in page).
  window.addEventListener("pageshow", function (ev) {
    if (ev.persisted) { window.location.reload(); }
  });

  // Copy buttons (ids): the value into the clipboard, a short confirmation on the button.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest("button[data-copy]") : null;
    if (!btn || !navigator.clipboard) { return; }
    navigator.clipboard.writeText(btn.getAttribute("data-copy")).then(function () {
      var was = btn.textContent;
      btn.textContent = "Copied";
      setTimeout(function () { btn.textContent = was; }, 1500);
    }, function () { /* not allowed here (insecure origin): the id stays selectable */ });
  });

  document.addEventListener("DOMContentLoaded", function () {
    timeZone();
    connectionTest();
    autoRefresh();
    authFields();
  });
})();
