// Selects marked data-submit-on-change submit their form when changed (the language switcher).
// A static file instead of an onchange= attribute: the Content-Security-Policy runs no inline script.
document.addEventListener("change", (event) => {
  const select = event.target.closest("[data-submit-on-change]");
  if (select && select.form) {
    select.form.submit();
  }
});
