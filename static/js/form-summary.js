// A form sent back with errors: move the focus to its summary, so a screen reader reads it and a
// phone scrolls to it instead of leaving it above the instructions.
(function () {
  "use strict";
  var summary = document.getElementById("form-summary");
  if (summary) { summary.focus(); }
})();
