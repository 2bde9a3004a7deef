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

  // Times are rendered in UTC by the server; show them in the browser's zone too.
  function localTimes() {
    var fmt = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit"
    });
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d.getTime())) {
        el.title = el.textContent + " UTC";
        el.textContent = fmt.format(d);
      }
    });
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
    localTimes();
    connectionTest();
    autoRefresh();
    authFields();
  });
})();
