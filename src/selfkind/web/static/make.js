// Make your own: check the script as it is typed (mistakes at their line), preview it.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const source = $("source");
  let timer = null, asked = 0;

  function goToLine(line, col) {
    const lines = source.value.split("\n");
    let offset = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
    offset += Math.max(0, (col || 1) - 1);
    source.focus();
    source.setSelectionRange(offset, offset);
  }

  // Line numbers beside the text, a mistake's line marked there (the list below says what).
  const gutter = $("gutter");
  let badLines = new Set();
  function drawGutter() {
    const count = source.value.split("\n").length;
    gutter.replaceChildren();
    for (let n = 1; n <= count; n++) {
      const line = document.createElement("span");
      line.textContent = (badLines.has(n) ? "✗ " : "") + n + "\n";
      if (badLines.has(n)) line.className = "bad";
      line.dataset.line = n;
      gutter.appendChild(line);
    }
    gutter.scrollTop = source.scrollTop;
  }
  source.addEventListener("scroll", () => { gutter.scrollTop = source.scrollTop; });

  async function check() {
    const mine = ++asked;
    const answer = await window.selfkindPlayer.post("/make/check", source.value);
    if (mine !== asked) return;  // a newer check is on its way
    const list = $("mistakes");
    list.replaceChildren();
    const mistakes = answer.mistakes || [];
    badLines = new Set(mistakes.map((m) => m.line).filter((n) => n > 0));
    drawGutter();
    source.setAttribute("aria-invalid", mistakes.length ? "true" : "false");
    for (const m of mistakes) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "mistake";
      button.dataset.line = m.line;
      button.textContent = (m.line ? "Line " + m.line + (m.col ? ", column " + m.col : "") + ": " : "") + m.message;
      button.addEventListener("click", () => goToLine(m.line, m.col));
      item.appendChild(button);
      list.appendChild(item);
    }
    $("check-state").textContent = mistakes.length
      ? mistakes.length + (mistakes.length === 1 ? " mistake" : " mistakes")
      : "No mistakes: “" + answer.title + "” is ready to preview.";
  }

  source.addEventListener("input", () => {
    drawGutter();
    clearTimeout(timer);
    timer = setTimeout(check, 300);
  });
  $("preview").addEventListener("click", () => {
    window.selfkindPlayer.start(() => window.selfkindPlayer.post("/make/preview", source.value));
  });
  drawGutter();
  check();
})();
