// Returns the pairs of text boxes that overlap on the rendered page (used by the browser tests).
// Every visible text node (HTML and SVG) contributes the client rectangles of its text; two boxes
// of different text nodes overlapping by more than 1.5 px in both directions are reported.
(() => {
  const boxes = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let node, id = 0;
  while ((node = walker.nextNode())) {
    if (!node.textContent.trim()) continue;
    const parent = node.parentElement;
    if (!parent || parent.closest("title, style, script, [aria-hidden=true]")) continue;
    const style = getComputedStyle(parent);
    if (style.visibility === "hidden" || style.display === "none" || parseFloat(style.opacity) === 0) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    id += 1;
    for (const r of range.getClientRects()) {
      if (r.width < 1 || r.height < 1) continue;
      boxes.push({id, x0: r.left, y0: r.top, x1: r.right, y1: r.bottom, text: node.textContent.trim().slice(0, 40)});
    }
  }
  boxes.sort((a, b) => a.x0 - b.x0);
  const overlaps = [];
  for (let i = 0; i < boxes.length; i++) {
    const a = boxes[i];
    for (let j = i + 1; j < boxes.length && boxes[j].x0 < a.x1 - 1.5; j++) {
      const b = boxes[j];
      if (a.id === b.id) continue;
      const dx = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0);
      const dy = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0);
      if (dx > 1.5 && dy > 1.5) overlaps.push([a.text, b.text, Math.round(a.x0), Math.round(a.y0)]);
    }
  }
  return {n_boxes: boxes.length, overlaps: overlaps.slice(0, 50), n_overlaps: overlaps.length};
})()
