// Case page: the procedure's BPMN drawn with bpmn-js (navigated viewer: pan and zoom, no editing), steps done and current marked
// with colour AND a symbol (✓ / ●), so the state does not rely on colour alone. The same facts are
// listed as text under the diagram for screen readers.
(function () {
  "use strict";
  var box = document.getElementById("case-diagram");
  if (!box || typeof window.BpmnJS === "undefined") { return; }
  var split = function (value) { return (value || "").split(",").filter(Boolean); };
  var done = split(box.dataset.done);
  var current = split(box.dataset.current);
  var viewer = new window.BpmnJS({ container: box });
  fetch(box.dataset.src, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      var canvas = viewer.get("canvas");
      var overlays = viewer.get("overlays");
      var registry = viewer.get("elementRegistry");
      canvas.zoom("fit-viewport", "auto");
      var focus = registry.get(current[0] || "");
      if (box.clientWidth < 600 && focus) {
        // On a phone the whole procedure is too small to read: show the current step, readable,
        // and let the user pan (drag) and pinch around it.
        canvas.zoom(0.8);
        canvas.scrollToElement(focus, { top: 80, bottom: 80, left: 60, right: 60 });
      }
      var mark = function (ids, css, symbol) {
        ids.forEach(function (id) {
          if (!registry.get(id)) { return; }
          canvas.addMarker(id, css);
          overlays.add(id, { position: { top: -10, right: 10 }, html: '<span class="diagram-badge ' + css + '-badge" aria-hidden="true">' + symbol + "</span>" });
        });
      };
      mark(done, "procedo-done", "✓");
      mark(current, "procedo-current", "●");
    })
    .catch(function () {
      box.textContent = box.dataset.error;
      box.classList.add("p-3");
    });
})();
