// warrant console: small progressive enhancement. Pages work without it.
// - [data-refresh]: re-fetch the fragment every data-every seconds and swap it in (the approvals inbox),
//   unless the person is typing in it.
// - [data-more]: load the next rows of a long trail in place instead of following the link.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll("[data-refresh]")) {
    const every = Number(box.dataset.every || 5) * 1000;
    const refresh = async () => {
      if (box.contains(document.activeElement) && document.activeElement.tagName === "INPUT") return;
      try {
        const answer = await fetch(box.dataset.refresh, { credentials: "same-origin", headers: { "accept": "text/html" } });
        if (answer.redirected || !answer.ok) return;
        box.innerHTML = await answer.text();
      } catch (_) { /* offline for a moment: try again next time */ }
    };
    setInterval(refresh, every);
  }
  for (const link of document.querySelectorAll("[data-more]")) {
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      const target = document.getElementById(link.dataset.into);
      const answer = await fetch(link.dataset.more, { credentials: "same-origin" });
      if (!answer.ok) { window.location = link.href; return; }
      target.insertAdjacentHTML("beforeend", await answer.text());
      const next = answer.headers.get("x-next-page");
      if (next) { link.dataset.more = next; } else { link.remove(); }
    });
  }
});
