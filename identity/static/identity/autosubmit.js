// Posts the SAML form on load (a file, not an inline script: the CSP forbids those).
document.querySelectorAll("form[data-autosubmit]").forEach(function (form) { form.submit(); });
