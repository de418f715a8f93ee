// Words and numbers broken across lines inside table cells, measured from
// the layout: every run of non-space characters in a cell's text (a word, a
// number, "2017-06-24", "GET") must sit on one line box. Evaluated in the
// page (page.evaluate(brokenInCells)); returns one line per broken token.
export function brokenInCells() {
  const out = [];
  const cells = document.querySelectorAll("td, th");
  for (const cell of cells) {
    if (cell.getClientRects().length === 0) continue; // not rendered (closed <details>)
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const re = /[^ \t\n\r]+/g;
      let m;
      while ((m = re.exec(node.data))) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const rects = [...range.getClientRects()].filter((b) => b.width > 0 && b.height > 0);
        // Line boxes: rects whose vertical middles differ by more than half a line.
        const lines = [];
        for (const b of rects) {
          const mid = b.top + b.height / 2;
          if (!lines.some((l) => Math.abs(l - mid) < b.height / 2)) lines.push(mid);
        }
        if (lines.length > 1) {
          const table = cell.closest("table");
          const where = table ? (table.id ? `#${table.id}` : `table.${[...table.classList].join(".")}`) : "?";
          out.push(`${where}: "${m[0]}" on ${lines.length} lines`);
        }
      }
    }
  }
  return out;
}
