"use strict";
// The report's map (a canvas scatter of the codes) and its image panel; the data is the JSON block above.
window.caeSimReport = (() => {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const canvas = document.getElementById("map");
  const tooltip = document.getElementById("tooltip");
  const panel = document.getElementById("panel");
  // Canvas pixels around the points; the diameter of a dot on the screen, in CSS pixels, whatever the canvas's size.
  const MARGIN = 10, DOT_DIAMETER = 7;

  const colour = (label) => `hsl(${((label * 137.508) % 360).toFixed(1)}, 70%, 42%)`;
  const thumbnail = (i) => {
    const image = document.createElement("img");
    image.src = `thumbs/${i}.jpg`;
    image.alt = data.paths[i].split(/[\\/]/).pop();
    image.dataset.i = i;
    return image;
  };
  // A path as one inline block per name and its separator (the CSS's .path span): it wraps between them, and within
  // a name (at a hyphen, or anywhere) only where the name alone is wider than the box.
  const pathNodes = (path) =>
    path.split(/(?<=[\\/])/).map((name) => Object.assign(document.createElement("span"), { textContent: name }));

  // Where image i is drawn, in canvas pixels.
  function pointOf(i) {
    const [x, y] = data.xy[i];
    return [MARGIN + x * (canvas.width - 2 * MARGIN), MARGIN + (1 - y) * (canvas.height - 2 * MARGIN)];
  }

  // Where image i is on the screen, relative to the canvas's top left corner, in CSS pixels.
  function screenPointOf(i) {
    const box = canvas.getBoundingClientRect();
    const [x, y] = pointOf(i);
    return [x * box.width / canvas.width, y * box.height / canvas.height];
  }

  // The radius of a dot in canvas pixels: DOT_DIAMETER CSS pixels across as the canvas is shown now.
  function dotRadius() {
    return DOT_DIAMETER / 2 * canvas.width / (canvas.getBoundingClientRect().width || canvas.width);
  }

  function drawMap() {
    const context = canvas.getContext("2d");
    const radius = dotRadius();
    context.clearRect(0, 0, canvas.width, canvas.height);
    data.labels.forEach((label, i) => {
      const [x, y] = pointOf(i);
      context.fillStyle = colour(label);
      context.beginPath();
      context.arc(x, y, radius, 0, 2 * Math.PI);
      context.fill();
    });
  }

  // The image drawn nearest to a mouse event, if the pointer is on its dot or just beside it; else -1.
  function pointAt(event) {
    const box = canvas.getBoundingClientRect();
    const x = (event.clientX - box.left) * canvas.width / box.width;
    const y = (event.clientY - box.top) * canvas.height / box.height;
    let best = -1, bestSquared = (1.5 * dotRadius()) ** 2;
    for (let i = 0; i < data.xy.length; i++) {
      const [px, py] = pointOf(i);
      const squared = (px - x) ** 2 + (py - y) ** 2;
      if (squared <= bestSquared) { best = i; bestSquared = squared; }
    }
    return best;
  }

  function showTooltip(event) {
    const i = pointAt(event);
    tooltip.hidden = i < 0;
    if (i < 0) return;
    if (tooltip.dataset.i !== String(i)) {
      tooltip.replaceChildren(thumbnail(i));
      tooltip.dataset.i = i;
    }
    tooltip.style.left = `${event.pageX + 12}px`;
    tooltip.style.top = `${event.pageY + 12}px`;
  }

  function neighbourItem(j, score, kind) {
    const item = document.createElement("li");
    item.dataset.i = j;
    const scoreText = Object.assign(document.createElement("span"), { className: "score", textContent: score.toFixed(4) });
    const kindText = Object.assign(document.createElement("span"), { className: "kind", textContent: kind });
    const path = Object.assign(document.createElement("span"), { className: "path" });
    path.append(...pathNodes(data.paths[j]));
    item.append(thumbnail(j), scoreText, kindText, path);
    return item;
  }

  function openPanel(i) {
    panel.dataset.i = i;
    document.getElementById("panel-figure").replaceChildren(thumbnail(i));
    document.getElementById("panel-path").replaceChildren(...pathNodes(data.paths[i]));
    const cluster = document.getElementById("panel-cluster");
    cluster.textContent = data.labels[i];
    cluster.href = `#cluster-${data.labels[i]}`;
    const items = data.neighbors[i].map((j, rank) => neighbourItem(j, data.scores[i][rank], data.kinds[i][rank]));
    document.getElementById("panel-neighbors").replaceChildren(...items);
    panel.hidden = false;
  }

  window.addEventListener("resize", drawMap);
  canvas.addEventListener("mousemove", showTooltip);
  canvas.addEventListener("mouseleave", () => { tooltip.hidden = true; });
  canvas.addEventListener("click", (event) => {
    const i = pointAt(event);
    if (i >= 0) openPanel(i);
  });
  document.addEventListener("click", (event) => {
    const image = event.target.closest("img[data-i]");
    if (image && event.target !== canvas) openPanel(Number(image.dataset.i));
  });
  document.getElementById("panel-close").addEventListener("click", () => { panel.hidden = true; });
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") panel.hidden = true; });

  drawMap();
  performance.mark("report-ready");
  return { data, pointOf, screenPointOf, dotRadius, openPanel, ready: true };
})();
