// Runboard's only script: keyboard and click comfort on top of htmx. Everything works without it.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  const isInteractive = (el) => el.closest("a, button, input, select, textarea, form, summary, details, label");

  // A click anywhere on a run row (but its links and buttons) expands or collapses it.
  document.addEventListener("click", (event) => {
    const row = event.target.closest(".run-row");
    if (!row || isInteractive(event.target)) return;
    row.querySelector(".toggle")?.click();
  });

  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest("input, select, textarea");
    if (event.key === "/" && !typing) {
      event.preventDefault();
      document.getElementById("id_q")?.focus();
    } else if (event.key === "Escape" && !typing) {
      const open = event.target.closest("tbody.run.open") || document.querySelector("tbody.run.open");
      open?.querySelector('.toggle[aria-expanded="true"]')?.click();
    }
  });

  // Row buttons submit the page's #act and #ask forms. #ask (Abort, Delete) asks first: without
  // JavaScript on a page of its own, here with its question about the run of the button pressed.
  document.addEventListener("htmx:confirm", (event) => {
    const form = event.detail.elt;
    const asked = form.id === "ask" && event.detail.path.match(/\/(\d+)\/(abort|delete)\/$/);
    if (!asked) return;
    event.preventDefault();
    if (window.confirm(form.dataset[asked[2]].replace("{run}", asked[1]))) {
      event.detail.issueRequest(true);
    }
  });

  // While a row's action is on its way its buttons wait; its answer brings the row back, and the
  // keyboard focus goes back to it (the button pressed is gone).
  let acting = null;
  document.addEventListener("htmx:beforeRequest", (event) => {
    const button = event.detail.requestConfig?.triggeringEvent?.submitter;
    if (!button?.closest(".actions")) return;
    acting = button.closest("tbody.run")?.id;
    button.closest(".actions").querySelectorAll("button").forEach((b) => { b.disabled = true; });
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    const button = event.detail.requestConfig?.triggeringEvent?.submitter;
    if (button?.isConnected) {
      button.closest(".actions").querySelectorAll("button").forEach((b) => { b.disabled = false; });
    }
  });

  // A "Copy" button copies the text of the element it names (a new API token).
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const text = document.getElementById(button.dataset.copy)?.textContent.trim();
    navigator.clipboard?.writeText(text).then(() => { button.textContent = "Copied"; });
  });

  // Keep keyboard focus on the row that was just swapped (its button may have gone); after the
  // settle, once htmx has wired the new elements.
  document.addEventListener("htmx:afterSettle", (event) => {
    if (document.activeElement && document.activeElement !== document.body) return;
    const target = event.detail.target;
    const id = target?.closest?.("tbody.run")?.id || acting;
    acting = null;
    const tbody = id ? document.getElementById(id) : null;
    tbody?.querySelector(".toggle")?.focus();
  });
})();
