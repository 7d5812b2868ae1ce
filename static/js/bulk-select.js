// Inbox bulk assignment: "select all" ticks every task of the page (rows are re-rendered by htmx,
// so listen on the document); each change is announced to htmx, which refreshes the assignee list.
(function () {
  document.addEventListener("change", function (event) {
    var all = event.target;
    if (!all.classList || !all.classList.contains("bulk-all")) return;
    var boxes = document.querySelectorAll("#inbox-table tbody .bulk-check");
    boxes.forEach(function (box) { box.checked = all.checked; });
    if (boxes.length) boxes[0].dispatchEvent(new Event("change", { bubbles: true }));
  });
})();
