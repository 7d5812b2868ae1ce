// Where JSON text stops being valid: browsers word (and place) JSON.parse errors differently, so the
// form editor finds the offset itself to say "riga N, colonna M". Returns the offset or -1 if valid.

export function jsonErrorOffset(text) {
  let i = 0;
  const fail = () => { throw i; };
  const ws = () => { while (i < text.length && " \t\n\r".includes(text[i])) { i += 1; } };
  const literal = (word) => { if (text.startsWith(word, i)) { i += word.length; } else { fail(); } };
  const string = () => {
    i += 1;
    while (i < text.length) {
      const c = text[i];
      if (c === '"') { i += 1; return; }
      if (c < " ") { fail(); }
      if (c === "\\") {
        i += 1;
        if (text[i] === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) { fail(); }
          i += 5;
        } else if ('"\\/bfnrt'.includes(text[i] || "x")) { i += 1; } else { fail(); }
      } else { i += 1; }
    }
    fail();
  };
  const number = () => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!match) { fail(); }
    i += match[0].length;
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === "{") {
      i += 1; ws();
      if (text[i] === "}") { i += 1; return; }
      for (;;) {
        ws(); if (text[i] !== '"') { fail(); }
        string(); ws();
        if (text[i] !== ":") { fail(); }
        i += 1; value(); ws();
        if (text[i] === ",") { i += 1; continue; }
        if (text[i] === "}") { i += 1; return; }
        fail();
      }
    } else if (c === "[") {
      i += 1; ws();
      if (text[i] === "]") { i += 1; return; }
      for (;;) {
        value(); ws();
        if (text[i] === ",") { i += 1; continue; }
        if (text[i] === "]") { i += 1; return; }
        fail();
      }
    } else if (c === '"') { string(); } else if (c === "t") { literal("true"); } else if (c === "f") { literal("false"); } else if (c === "n") { literal("null"); } else { number(); }
  };
  try {
    value(); ws();
    return i < text.length ? i : -1;
  } catch (offset) {
    if (typeof offset === "number") { return offset; }
    throw offset;
  }
}
