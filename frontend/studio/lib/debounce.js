// The properties panel's `debounceInput` service, keeping track of edits still waiting for their
// debounce delay so the studio can apply them at once: before saving (Ctrl+S right after typing
// must save what was typed) and before validating.

import { debounce } from "min-dash";

const DEFAULT_DELAY = 300;

export function TrackedDebounce(delay) {
  const wait = typeof delay === "number" ? delay : DEFAULT_DELAY;
  const pending = new Set();
  const factory = (fn) => {
    if (delay === false) { return fn; }
    const inner = debounce((...args) => {
      pending.delete(wrapped);
      return fn(...args);
    }, wait);
    function wrapped(...args) {
      pending.add(wrapped);
      return inner.apply(this, args);
    }
    wrapped.flush = () => { pending.delete(wrapped); inner.flush(); };
    wrapped.cancel = () => { pending.delete(wrapped); inner.cancel(); };
    return wrapped;
  };
  factory.flushAll = () => { [...pending].forEach((fn) => fn.flush()); };
  return factory;
}

TrackedDebounce.$inject = ["config.debounceInput"];

export default { debounceInput: ["factory", TrackedDebounce] };
