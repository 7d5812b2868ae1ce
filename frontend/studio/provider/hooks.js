// Shared pieces of the Procedo properties provider: the live expression check and its message.

import { h } from "@bpmn-io/properties-panel/preact";
import { useEffect, useState } from "@bpmn-io/properties-panel/preact/hooks";
import { useService } from "bpmn-js-properties-panel";

const WAIT_MS = 400;

// Checks `value` with the engine's sandbox (POST espressione/), debounced; the answer of an older
// value is dropped (its request is aborted).
export function useExpressionCheck(value, kind, { skip = false } = {}) {
  const ctx = useService("procedoContext");
  const [state, setState] = useState({ status: "idle", message: "" });
  useEffect(() => {
    if (skip || !value || !String(value).trim()) {
      setState({ status: "idle", message: "" });
      return undefined;
    }
    setState({ status: "checking", message: "Verifica dell'espressione in corso…" });
    const controller = new AbortController();
    const timer = setTimeout(() => {
      ctx.checkExpression(String(value), kind, controller.signal)
        .then((answer) => setState({
          status: answer.ok ? "ok" : "error",
          message: answer.message || (answer.ok ? "Espressione ammessa." : "Espressione non ammessa."),
        }))
        .catch((error) => {
          if (error.name !== "AbortError") {
            setState({ status: "unavailable", message: `Verifica non disponibile: ${error.message}` });
          }
        });
    }, WAIT_MS);
    return () => { clearTimeout(timer); controller.abort(); };
  }, [value, kind, skip]);
  return state;
}

const ICONS = { ok: "✓", error: "✗", checking: "…", unavailable: "!", info: "ℹ" };

// A status line: icon (hidden from screen readers) + text, announced politely when it changes.
export function statusLine(state, extra) {
  const parts = [];
  if (extra) { parts.push(h("span", { class: "procedo-hint" }, extra)); }
  if (state && state.status !== "idle") {
    parts.push(h("span", { class: `procedo-check procedo-check-${state.status}`, "data-check": state.status }, [
      h("span", { class: "procedo-check-icon", "aria-hidden": "true" }, ICONS[state.status] || ""),
      " ",
      state.message,
    ]));
  }
  return h("span", { role: "status", "aria-live": "polite", class: "procedo-status" }, parts);
}
