// Studio: a procedure's BPMN drawn with bpmn-js (navigated viewer, no editing), its elements marked with
// colour AND a symbol (+ added, ~ changed, − removed, ! error, ? warning), so nothing relies on colour
// alone. The same facts are listed as text next to every diagram for screen readers.
(function () {
  "use strict";
  if (typeof window.BpmnJS === "undefined") { return; }
  var split = function (value) { return (value || "").split(",").filter(Boolean); };
  var kinds = [["added", "+"], ["changed", "~"], ["removed", "\u2212"], ["error", "!"], ["warning", "?"]];
  document.querySelectorAll(".studio-diagram[data-src]").forEach(function (box) {
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
        kinds.forEach(function (kind) {
          split(box.dataset[kind[0]]).forEach(function (id) {
            if (!registry.get(id)) { return; }
            canvas.addMarker(id, "studio-" + kind[0]);
            var badge = document.createElement("span");
            badge.className = "studio-badge studio-" + kind[0] + "-badge";
            badge.setAttribute("aria-hidden", "true");
            badge.textContent = kind[1];
            overlays.add(id, { position: { top: -10, right: 10 }, html: badge });
          });
        });
      })
      .catch(function () {
        box.textContent = box.dataset.failure || "";
        box.classList.add("p-3");
      });
  });
})();
