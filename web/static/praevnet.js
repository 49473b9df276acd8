// praevnet's progressive enhancement: every page works without this file.
// It shows the meaning of the chosen TLP label and the case band of a typed count as the officer types.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const select of document.querySelectorAll("select[data-pv-describe]")) {
    const target = document.getElementById(select.dataset.pvDescribe);
    const update = () => {
      const option = select.options[select.selectedIndex];
      if (target && option && option.dataset.meaning) target.textContent = option.dataset.meaning;
    };
    select.addEventListener("change", update);
  }
  for (const input of document.querySelectorAll("input[data-pv-bands]")) {
    const target = document.getElementById(input.dataset.pvBandTarget);
    const bands = JSON.parse(input.dataset.pvBands);  // [[lowest, label], ...] ascending
    const update = () => {
      const n = Number.parseInt(input.value, 10);
      if (!target) return;
      if (Number.isNaN(n) || n < 0) { target.textContent = ""; return; }
      let label = bands[0][1];
      for (const [lowest, name] of bands) if (n >= lowest) label = name;
      target.textContent = label;
    };
    input.addEventListener("input", update);
  }
});
