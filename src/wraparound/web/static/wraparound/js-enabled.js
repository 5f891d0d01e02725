// Marks the page as script-capable before NHS.UK frontend components initialise (the
// template's inline snippet, moved to a file so the Content Security Policy needs no
// 'unsafe-inline').
document.body.className += " js-enabled" +
  ("noModule" in HTMLScriptElement.prototype ? " nhsuk-frontend-supported" : "");
