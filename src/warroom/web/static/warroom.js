// warroom web shell: the little behaviour htmx attributes cannot express under our CSP
// (which forbids eval, so no `[document.visibilityState == 'visible']` trigger filters).
(function () {
  "use strict";

  // Polling regions (marked data-poll) skip their refresh while the tab is hidden...
  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail && event.detail.elt;
    if (document.visibilityState !== "visible" && elt && elt.hasAttribute("data-poll")) {
      event.preventDefault();
    }
  });

  // A live refresh never replaces a form being edited: an out-of-band part holding the
  // focused control, or a control whose value differs from what the page loaded with,
  // keeps its content (the next refresh after the form is sent or left alone brings it up).
  function editing(root) {
    var active = document.activeElement;
    if (active && active !== document.body && root.contains(active) &&
        /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) {
      return true;
    }
    var fields = root.querySelectorAll("input, textarea, select");
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.type === "hidden" || f.type === "submit") { continue; }
      if (f.type === "checkbox" || f.type === "radio") {
        if (f.checked !== f.defaultChecked) { return true; }
      } else if (f.tagName === "SELECT") {
        for (var j = 0; j < f.options.length; j++) {
          if (f.options[j].selected !== f.options[j].defaultSelected) { return true; }
        }
      } else if (f.value !== f.defaultValue) {
        return true;
      }
    }
    return false;
  }

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && editing(target)) {
      event.detail.shouldSwap = false;
    }
  });

  // ...and catch up at once when it is shown again.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible" || !window.htmx) {
      return;
    }
    document.querySelectorAll("[data-poll]").forEach(function (elt) {
      window.htmx.trigger(elt, "wr-refresh");
    });
  });
})();

// The console shows times in the viewer's zone: tell the server which one the browser uses
// (a cookie, read by warroom.web.console.viewer_zone; `?tz=` on a page overrides it).
(function () {
  "use strict";
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && /^[A-Za-z0-9_+\-\/]+$/.test(zone) && document.cookie.indexOf("warroom_tz=" + zone) === -1) {
      document.cookie = "warroom_tz=" + zone + "; path=/; SameSite=Strict; max-age=31536000";
    }
  } catch (e) { /* no Intl: the server's default zone it is */ }

  // Copy buttons: <button data-copy="#input-id">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) { return; }
    var field = document.querySelector(button.getAttribute("data-copy"));
    if (!field) { return; }
    field.select();
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
})();
