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
    const tbody = target && target.id ? document.getElementById(target.id) : null;
    tbody?.querySelector(".toggle")?.focus();
  });
})();
