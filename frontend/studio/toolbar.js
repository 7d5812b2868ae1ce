// The modeler's toolbar (role="toolbar"): one tab stop, arrow keys / Home / End move between the
// buttons (WAI-ARIA toolbar pattern); Ctrl+S saves from anywhere on the page.

export function setupToolbar(studio) {
  const toolbar = studio.root.querySelector("[data-studio-toolbar]");
  if (!toolbar) { return; }
  const buttons = () => [...toolbar.querySelectorAll("button")];
  const canvas = () => studio.modeler.get("canvas");
  const commandStack = () => studio.modeler.get("commandStack");
  const actions = {
    save: () => studio.save(),
    validate: () => studio.validate(),
    undo: () => commandStack().undo(),
    redo: () => commandStack().redo(),
    "zoom-in": () => canvas().zoom(Math.min(4, canvas().zoom() * 1.2)),
    "zoom-out": () => canvas().zoom(Math.max(0.2, canvas().zoom() / 1.2)),
    fit: () => canvas().zoom("fit-viewport", "auto"),
  };

  const refresh = () => {
    const stack = commandStack();
    toolbar.querySelectorAll("[data-studio-action=undo]").forEach((button) => button.setAttribute("aria-disabled", String(!stack.canUndo())));
    toolbar.querySelectorAll("[data-studio-action=redo]").forEach((button) => button.setAttribute("aria-disabled", String(!stack.canRedo())));
  };
  studio.modeler.on("commandStack.changed", refresh);
  studio.modeler.on("import.done", refresh);

  buttons().forEach((button, index) => {
    button.tabIndex = index === 0 ? 0 : -1;
    button.disabled = false;
    button.addEventListener("click", () => {
      if (button.getAttribute("aria-disabled") === "true") { return; }
      const action = actions[button.dataset.studioAction];
      if (action) { action(); }
    });
  });

  toolbar.addEventListener("keydown", (event) => {
    const all = buttons();
    const index = all.indexOf(document.activeElement);
    if (index < 0) { return; }
    let next = null;
    if (event.key === "ArrowRight" || event.key === "ArrowDown") { next = (index + 1) % all.length; }
    if (event.key === "ArrowLeft" || event.key === "ArrowUp") { next = (index - 1 + all.length) % all.length; }
    if (event.key === "Home") { next = 0; }
    if (event.key === "End") { next = all.length - 1; }
    if (next === null) { return; }
    event.preventDefault();
    all[index].tabIndex = -1;
    all[next].tabIndex = 0;
    all[next].focus();
  });

  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "s") {
      event.preventDefault();
      studio.save();
    }
  });
}
