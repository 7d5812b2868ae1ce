// Fiscal-code (codice fiscale) checksum as you type; the server checks it again.
(function () {
  var ODD = { 0: 1, 1: 0, 2: 5, 3: 7, 4: 9, 5: 13, 6: 15, 7: 17, 8: 19, 9: 21,
    A: 1, B: 0, C: 5, D: 7, E: 9, F: 13, G: 15, H: 17, I: 19, J: 21, K: 2, L: 4, M: 18,
    N: 20, O: 11, P: 3, Q: 6, R: 8, S: 12, T: 14, U: 16, V: 10, W: 22, X: 25, Y: 24, Z: 23 };
  function evenValue(c) { return /[0-9]/.test(c) ? c.charCodeAt(0) - 48 : c.charCodeAt(0) - 65; }
  function valid(cf) {
    cf = (cf || "").toUpperCase();
    if (!/^[A-Z0-9]{15}[A-Z]$/.test(cf)) return false;
    var sum = 0;
    for (var i = 0; i < 15; i++) sum += i % 2 === 0 ? ODD[cf[i]] : evenValue(cf[i]);
    return String.fromCharCode(65 + (sum % 26)) === cf[15];
  }
  window.procedoFiscalCodeValid = valid;
  function check(input) {
    var value = input.value.trim();
    var message = document.getElementById(input.id + "-cf");
    if (!message) {
      message = document.createElement("div");
      message.id = input.id + "-cf";
      message.className = "small mt-1";
      message.setAttribute("aria-live", "polite");
      input.insertAdjacentElement("afterend", message);
      input.setAttribute("aria-describedby", ((input.getAttribute("aria-describedby") || "") + " " + message.id).trim());
    }
    if (value.length < 16) { message.textContent = ""; return; }
    var ok = valid(value);
    message.textContent = ok ? "Codice fiscale corretto." : "Codice fiscale non valido: controlla i caratteri.";
    message.className = "small mt-1 " + (ok ? "text-success" : "text-danger");
    input.setAttribute("aria-invalid", ok ? "false" : "true");
  }
  document.addEventListener("input", function (event) {
    var input = event.target;
    if (input.name && /fiscal_code$/.test(input.name)) check(input);
  });
})();
