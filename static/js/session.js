// Warn two minutes before the idle session expires; "Resta collegato" renews it.
(function () {
  var script = document.currentScript;
  var timeout = parseInt(script.dataset.timeout, 10) * 1000;
  var keepaliveUrl = script.dataset.keepalive;
  var box = document.getElementById("session-warning");
  var button = document.getElementById("session-keepalive");
  if (!timeout || !box || !button) return;
  var warnAfter = Math.max(timeout - 120000, timeout / 2);
  var timer;
  function arm() {
    clearTimeout(timer);
    box.classList.add("d-none");
    timer = setTimeout(function () {
      box.classList.remove("d-none");
      button.focus();
    }, warnAfter);
  }
  button.addEventListener("click", function () {
    fetch(keepaliveUrl, { credentials: "same-origin" }).then(arm);
  });
  document.body.addEventListener("htmx:afterRequest", arm);
  arm();
})();
