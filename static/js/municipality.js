// Municipality picker: a WAI-ARIA 1.2 combobox over ANPR's archive of municipalities.
// Without JavaScript the field still works: the server understands a typed name or ISTAT code.
(function () {
  "use strict";
  function setup(input) {
    var list = document.getElementById(input.getAttribute("aria-controls"));
    if (!list || input.readOnly) { return; }
    var timer = null;
    var active = -1;
    var options = function () { return Array.prototype.slice.call(list.querySelectorAll(".municipality-option")); };
    var close = function () {
      list.innerHTML = ""; active = -1;
      input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant");
    };
    var highlight = function (index) {
      var items = options();
      if (!items.length) { return; }
      active = (index + items.length) % items.length;
      items.forEach(function (item, i) { item.setAttribute("aria-selected", i === active ? "true" : "false"); });
      input.setAttribute("aria-activedescendant", items[active].id);
      items[active].scrollIntoView({ block: "nearest" });
    };
    var choose = function (item) {
      if (!item || !item.dataset.value) { return; }
      input.value = item.dataset.value;
      close();
      input.focus();
    };
    var load = function () {
      var q = input.value.trim();
      if (q.length < 2) { close(); return; }
      var url = input.dataset.optionsUrl + "?listbox=" + encodeURIComponent(list.id) + "&q=" + encodeURIComponent(q);
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (html) {
          list.innerHTML = html; active = -1;
          input.setAttribute("aria-expanded", html.trim() ? "true" : "false");
        })
        .catch(close);
    };
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(load, 250); });
    input.addEventListener("keydown", function (event) {
      var open = input.getAttribute("aria-expanded") === "true";
      if (event.key === "ArrowDown") { event.preventDefault(); if (!open) { load(); } else { highlight(active + 1); } }
      else if (event.key === "ArrowUp" && open) { event.preventDefault(); highlight(active - 1); }
      else if (event.key === "Enter" && open && active >= 0) { event.preventDefault(); choose(options()[active]); }
      else if (event.key === "Escape" && open) { event.preventDefault(); close(); }
    });
    list.addEventListener("mousedown", function (event) { event.preventDefault(); });  // keep the focus
    list.addEventListener("click", function (event) { choose(event.target.closest(".municipality-option")); });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
  }
  document.querySelectorAll('.municipality-picker input[role="combobox"]').forEach(setup);
})();
